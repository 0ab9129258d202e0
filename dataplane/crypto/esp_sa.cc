// SPDX-License-Identifier: Apache-2.0
#include "dataplane/crypto/esp_sa.h"

#include <rte_crypto_sym.h>
#include <rte_cryptodev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <string.h>

#include <cerrno>
#include <cstring>

#include "dataplane/model/counter.h"
#include "dataplane/proto/bytes.h"

namespace traboule::dp {

EspKey::EspKey(EspKey&& o) noexcept : key(o.key), salt(o.salt) {
  o.wipe();
}
EspKey& EspKey::operator=(EspKey&& o) noexcept {
  if (this != &o) {
    key = o.key;
    salt = o.salt;
    o.wipe();
  }
  return *this;
}
EspKey::~EspKey() {
  wipe();
}
void EspKey::wipe() noexcept {
  explicit_bzero(key.data(), key.size());
  explicit_bzero(&salt, sizeof salt);
}

namespace {

std::string errno_text(int e) {
  return std::strerror(e < 0 ? -e : e);
}

// AES-GCM with a 256-bit key, 16-byte tag, 12-byte nonce and the 12-byte ESN AAD.
bool supports_esp_gcm(uint8_t id) {
  rte_cryptodev_sym_capability_idx idx{};
  idx.type = RTE_CRYPTO_SYM_XFORM_AEAD;
  idx.algo.aead = RTE_CRYPTO_AEAD_AES_GCM;
  const rte_cryptodev_symmetric_capability* cap = rte_cryptodev_sym_capability_get(id, &idx);
  return cap != nullptr && rte_cryptodev_sym_capability_check_aead(cap, kEspKeyLen, kEspIcvLen,
                                                                   kEspAadLen, kEspNonceLen) == 0;
}

// Finds the device or creates its vdev; -1 with the reason in `error`.
int find_or_create(const std::string& name, bool& created, std::string& error) {
  created = false;
  int id = rte_cryptodev_get_dev_id(name.c_str());
  if (id >= 0) return id;
  if (int rc = rte_eal_hotplug_add("vdev", name.c_str(), ""); rc != 0) {
    error = "crypto device " + name + ": cannot create it (" + errno_text(rc) +
            "; is the driver installed? crypto_aesni_gcm is in librte-crypto-ipsec-mb23)";
    return -1;
  }
  created = true;
  id = rte_cryptodev_get_dev_id(name.c_str());
  if (id < 0) error = "crypto device " + name + ": created but not found";
  return id;
}

// Configures one queue pair (the sessions' pool is its session pool) and starts the device.
bool start_device(uint8_t id, rte_mempool* pool, std::string& error) {
  const int socket = rte_cryptodev_socket_id(id);
  rte_cryptodev_config conf{};
  conf.socket_id = socket < 0 ? 0 : socket;
  conf.nb_queue_pairs = 1;
  if (int rc = rte_cryptodev_configure(id, &conf); rc != 0) {
    error = "configure: " + errno_text(rc);
    return false;
  }
  rte_cryptodev_qp_conf qp{};
  qp.nb_descriptors = 128;
  qp.mp_session = pool;
  if (int rc = rte_cryptodev_queue_pair_setup(id, 0, &qp, conf.socket_id); rc != 0) {
    error = "queue pair: " + errno_text(rc);
    return false;
  }
  if (int rc = rte_cryptodev_start(id); rc != 0) {
    error = "start: " + errno_text(rc);
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<CryptoDevice> CryptoDevice::open(const std::string& name, unsigned max_sessions,
                                                 std::string& error) {
  bool created = false;
  const int found = find_or_create(name, created, error);
  if (found < 0) return nullptr;
  const auto id = static_cast<uint8_t>(found);
  auto give_up = [&](const std::string& why) -> std::unique_ptr<CryptoDevice> {
    error = "crypto device " + name + ": " + why;
    if (created) rte_eal_hotplug_remove("vdev", name.c_str());
    return nullptr;
  };
  rte_cryptodev_info info{};
  rte_cryptodev_info_get(id, &info);
  const std::string driver = info.driver_name != nullptr ? info.driver_name : "?";
  if ((info.feature_flags & RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO) == 0) {
    return give_up("driver " + driver + " has no CPU crypto (crypto_aesni_gcm has)");
  }
  if (!supports_esp_gcm(id)) return give_up("driver " + driver + " lacks AES-256-GCM");
  const std::string pool_name = "tb_esp_s" + std::to_string(id);
  const int socket = rte_cryptodev_socket_id(id);
  rte_mempool* pool = rte_cryptodev_sym_session_pool_create(
      pool_name.c_str(), max_sessions, rte_cryptodev_sym_get_private_session_size(id), 0, 0,
      socket < 0 ? SOCKET_ID_ANY : socket);
  if (pool == nullptr) return give_up("session pool: " + errno_text(rte_errno));
  std::string why;
  if (!start_device(id, pool, why)) {
    rte_mempool_free(pool);
    return give_up(why);
  }
  return std::unique_ptr<CryptoDevice>(new CryptoDevice(id, pool, driver, created));
}

CryptoDevice::CryptoDevice(uint8_t id, rte_mempool* pool, std::string driver, bool created)
    : id_(id), pool_(pool), driver_(std::move(driver)), created_(created) {}

CryptoDevice::~CryptoDevice() {
  rte_cryptodev_stop(id_);
  std::string name = rte_cryptodev_name_get(id_) != nullptr ? rte_cryptodev_name_get(id_) : "";
  rte_cryptodev_close(id_);
  rte_mempool_free(pool_);
  if (created_ && !name.empty()) rte_eal_hotplug_remove("vdev", name.c_str());
}

std::unique_ptr<GcmSession> GcmSession::make(CryptoDevice& dev, const EspKey& key, bool encrypt,
                                             std::string& error) {
  EspKey copy = key;  // the xform wants a mutable pointer; wiped when this returns
  rte_crypto_sym_xform x{};
  x.type = RTE_CRYPTO_SYM_XFORM_AEAD;
  x.aead.op = encrypt ? RTE_CRYPTO_AEAD_OP_ENCRYPT : RTE_CRYPTO_AEAD_OP_DECRYPT;
  x.aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
  x.aead.key.data = copy.key.data();
  x.aead.key.length = kEspKeyLen;
  x.aead.iv.offset = 0;  // CPU crypto takes the nonce by pointer
  x.aead.iv.length = kEspNonceLen;
  x.aead.digest_length = kEspIcvLen;
  x.aead.aad_length = kEspAadLen;
  void* sess = rte_cryptodev_sym_session_create(dev.id(), &x, dev.session_pool());
  if (sess == nullptr) {
    error = "GCM session: " + errno_text(rte_errno);
    return nullptr;
  }
  return std::unique_ptr<GcmSession>(new GcmSession(dev.id(), sess));
}

GcmSession::~GcmSession() {
  rte_cryptodev_sym_session_free(dev_, sess_);
}

bool GcmSession::run(uint8_t* data, uint32_t len, const uint8_t* nonce, const uint8_t* aad,
                     uint8_t* tag) const noexcept {
  rte_crypto_vec v{};
  v.base = data;
  v.len = len;
  v.tot_len = len;
  rte_crypto_sgl sgl{&v, 1};
  rte_crypto_va_iova_ptr iv{const_cast<uint8_t*>(nonce), 0};
  rte_crypto_va_iova_ptr add{const_cast<uint8_t*>(aad), 0};
  rte_crypto_va_iova_ptr digest{tag, 0};
  int32_t status = -1;
  rte_crypto_sym_vec vec{};
  vec.num = 1;
  vec.src_sgl = &sgl;
  vec.iv = &iv;
  vec.digest = &digest;
  vec.aad = &add;
  vec.status = &status;
  rte_crypto_sym_ofs ofs{};
  ofs.raw = 0;
  return rte_cryptodev_sym_cpu_crypto_process(dev_, sess_, ofs, &vec) == 1 && status == 0;
}

namespace {
bool writable(const rte_mbuf* m) noexcept {
  return m->nb_segs == 1 && RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1;
}
// An SA's counters have several writers (workers): an atomic add, not bump().
void add(uint64_t& c, uint64_t by = 1) noexcept {
  std::atomic_ref<uint64_t>(c).fetch_add(by, std::memory_order_relaxed);
}
}  // namespace

EspOutbound::Result EspOutbound::protect(rte_mbuf* m, uint8_t next_header) noexcept {
  if (!writable(m)) return Result::kNotWritable;
  if (seq_.load(std::memory_order_relaxed) == UINT64_MAX) return Result::kSeqExhausted;
  const uint32_t len = rte_pktmbuf_data_len(m);
  const unsigned pad = esp_pad_len(len);
  const unsigned tail = pad + kEspTrailerMin + kEspIcvLen;
  if (rte_pktmbuf_headroom(m) < kEspPrefixLen || rte_pktmbuf_tailroom(m) < tail) {
    return Result::kNoRoom;
  }
  uint8_t* payload = rte_pktmbuf_mtod(m, uint8_t*);
  rte_pktmbuf_append(m, static_cast<uint16_t>(tail));
  const uint32_t cipher_len = len + write_esp_trailer(payload + len, pad, next_header);
  auto* hdr = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEspPrefixLen));
  const uint64_t seq = seq_.fetch_add(1, std::memory_order_relaxed) + 1;
  write_esp_prefix(hdr, spi_, seq);
  const auto nonce = esp_nonce(salt_, hdr + kEspHdrLen);
  const auto aad = esp_aad(spi_, seq);
  if (!session_->run(payload, cipher_len, nonce.data(), aad.data(), payload + cipher_len)) {
    return Result::kCryptoFailed;
  }
  add(counters_.packets);
  add(counters_.bytes, len);
  return Result::kOk;
}

EspInbound::Result EspInbound::open(rte_mbuf* m, uint8_t& next_header) noexcept {
  if (!writable(m)) return Result::kNotWritable;
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < kEspMinLen) return Result::kTooShort;
  const uint32_t cipher_len = len - kEspPrefixLen - kEspIcvLen;
  if (cipher_len % 4 != 0) return Result::kMisaligned;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t seq_low = get32(p + 4);
  rte_spinlock_lock(&lock_);
  const ReplayWindow::Check check = window_.infer(seq_low);
  rte_spinlock_unlock(&lock_);
  if (Result r = refuse(check.verdict); r != Result::kOk) return r;
  const auto nonce = esp_nonce(salt_, p + kEspHdrLen);
  const auto aad = esp_aad(spi_, check.seq);
  uint8_t* cipher = p + kEspPrefixLen;
  if (!session_->run(cipher, cipher_len, nonce.data(), aad.data(), cipher + cipher_len)) {
    if (check.ahead) {  // below the window, not a wrap: an old packet again
      add(counters_.too_old);
      return Result::kTooOld;
    }
    add(counters_.auth_failed);
    return Result::kAuthFailed;
  }
  // Authentic; another worker may have taken the same number meanwhile: judge it again.
  rte_spinlock_lock(&lock_);
  const ReplayWindow::Check again = window_.infer(seq_low);
  if (again.verdict == ReplayWindow::Verdict::kNew && again.seq == check.seq) {
    window_.accept(check.seq);  // it moves the window even if its padding is odd
  }
  rte_spinlock_unlock(&lock_);
  if (again.seq != check.seq) return refuse(ReplayWindow::Verdict::kTooOld);
  if (Result r = refuse(again.verdict); r != Result::kOk) return r;
  EspTrailer trailer;
  if (read_esp_trailer(cipher, cipher_len, trailer) != EspTrailerError::kOk) {
    add(counters_.bad_trailer);
    return Result::kBadTrailer;
  }
  rte_pktmbuf_adj(m, kEspPrefixLen);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(trailer.pad + kEspTrailerMin + kEspIcvLen));
  next_header = trailer.next_header;
  add(counters_.packets);
  add(counters_.bytes, rte_pktmbuf_data_len(m));
  return Result::kOk;
}

EspInbound::Result EspInbound::refuse(ReplayWindow::Verdict v) noexcept {
  switch (v) {
    case ReplayWindow::Verdict::kNew:
      return Result::kOk;
    case ReplayWindow::Verdict::kDuplicate:
      add(counters_.replayed);
      return Result::kReplayed;
    case ReplayWindow::Verdict::kTooOld:
      break;
  }
  add(counters_.too_old);
  return Result::kTooOld;
}

const char* to_string(EspOutbound::Result r) noexcept {
  switch (r) {
    case EspOutbound::Result::kOk:
      return "ok";
    case EspOutbound::Result::kNotWritable:
      return "not_writable";
    case EspOutbound::Result::kNoRoom:
      return "no_room";
    case EspOutbound::Result::kSeqExhausted:
      return "seq_exhausted";
    case EspOutbound::Result::kCryptoFailed:
      return "crypto_failed";
  }
  return "?";
}

const char* to_string(EspInbound::Result r) noexcept {
  switch (r) {
    case EspInbound::Result::kOk:
      return "ok";
    case EspInbound::Result::kNotWritable:
      return "not_writable";
    case EspInbound::Result::kTooShort:
      return "too_short";
    case EspInbound::Result::kMisaligned:
      return "misaligned";
    case EspInbound::Result::kReplayed:
      return "replayed";
    case EspInbound::Result::kTooOld:
      return "too_old";
    case EspInbound::Result::kAuthFailed:
      return "auth_failed";
    case EspInbound::Result::kBadTrailer:
      return "bad_trailer";
  }
  return "?";
}

}  // namespace traboule::dp
