// SPDX-License-Identifier: Apache-2.0
// The control session's messages (issue 15 item 2, docs/security.md "Identity and the control
// session"): hello, inbound SAs, rekey, goodbye, in frames of u32 length (big-endian, of what
// follows) + u8 type + fields. The decoder trusts nothing: every refusal is a named error, a
// frame over kMaxFrame is refused from its header alone, before its body is read.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "controlplane/sessions/identity.h"
#include "controlplane/sessions/secret.h"

namespace traboule::cp {

inline constexpr size_t kFrameHeader = 4;
inline constexpr uint32_t kMaxFrame = 64 * 1024;  // body bytes (type + fields)
inline constexpr size_t kMaxSas = 256;            // per message (one per path: uplinks x hubs)
inline constexpr size_t kMaxText = 256;           // software version, goodbye detail
inline constexpr size_t kSaKeyBytes = 32;         // AES-256-GCM (RFC 4106)
inline constexpr size_t kSaSaltBytes = 4;

enum class MsgType : uint8_t { kHello = 1, kInboundSas = 2, kRekey = 3, kGoodbye = 4 };

struct Hello {
  PeerRole role = PeerRole::kUnknown;
  uint32_t site_id = 0;  // 0 for a hub
  std::string software_version;
};

// One inbound SA of the sender, for one path: the peer encrypts to it.
struct SaAnnounce {
  uint16_t path_id = 0;
  uint32_t spi = 0;  // never 0 (RFC 4303 reserves it)
  SecretBytes<kSaKeyBytes> key;
  SecretBytes<kSaSaltBytes> salt;
  uint64_t created_unix_s = 0;
  uint64_t expires_unix_s = 0;
};

struct InboundSas {
  std::vector<SaAnnounce> sas;
};

// Make-before-break: the sender installed these new inbound SAs (the peer switches to them) and
// keeps accepting the ones they replace for grace_s seconds.
struct Rekey {
  uint32_t grace_s = 0;
  std::vector<SaAnnounce> sas;
};

enum class GoodbyeReason : uint8_t {
  kShutdown = 0,       // the sender stops (daemon stop, uplink removed)
  kRefused = 1,        // the hub refuses this session (detail says why)
  kProtocolError = 2,  // a frame the sender could not accept
  kIdle = 3,           // nothing heard for too long
};
const char* goodbye_reason_name(GoodbyeReason r) noexcept;

struct Goodbye {
  GoodbyeReason reason = GoodbyeReason::kShutdown;
  std::string detail;  // printable ASCII, at most kMaxText bytes, never a secret
};

using ControlMessage = std::variant<Hello, InboundSas, Rekey, Goodbye>;

enum class CodecError : uint8_t {
  kOk = 0,
  kTruncated,  // fewer bytes than the header or a field says
  kOversize,   // length over kMaxFrame
  kEmpty,      // length 0: no type byte
  kUnknownType,
  kTrailingBytes,  // fields end before the frame does
  kBadRole,
  kBadSiteId,      // a site hello with site 0, or a hub hello with a site
  kBadText,        // over kMaxText or not printable ASCII
  kBadKeyLength,   // not kSaKeyBytes
  kBadSaltLength,  // not kSaSaltBytes
  kZeroSpi,
  kTooManySas,
  kBadLifetime,  // expires before it is created
  kBadReason,    // unknown goodbye reason
};
const char* codec_error_name(CodecError e) noexcept;

// The whole frame (header included), in a buffer wiped on release. One overload per message,
// so encoding an InboundSas never copies its keys into a temporary ControlMessage.
WipedBuffer encode(const Hello& m);
WipedBuffer encode(const InboundSas& m);
WipedBuffer encode(const Rekey& m);
WipedBuffer encode(const Goodbye& m);
WipedBuffer encode(const ControlMessage& m);

// From the first kFrameHeader bytes: the body length, or kTruncated / kOversize / kEmpty.
CodecError frame_body_length(std::span<const uint8_t> header, uint32_t& body_length) noexcept;

// One whole frame (header + body, nothing more).
struct Decoded {
  CodecError error = CodecError::kOk;
  std::optional<ControlMessage> message;
};
Decoded decode(std::span<const uint8_t> frame);

}  // namespace traboule::cp
