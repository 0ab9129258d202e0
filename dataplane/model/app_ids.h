// SPDX-License-Identifier: Apache-2.0
// How nDPI's protocol names map onto the product's application catalog. The data plane may not
// include the control plane's catalog, so the table lives here, keyed by the names nDPI 4.2's
// ndpi_get_proto_name() returns; the policy's AppDef list (name → id) resolves it to ids once
// per policy publication (resolve_app_ids), never per packet.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/model/policy_snapshot.h"

namespace traboule::dp {

struct NdpiAppRow {
  std::string_view ndpi;  // nDPI 4.2 protocol name, exactly as ndpi_get_proto_name() spells it
  std::string_view app;   // application catalog name (controlplane/policy/app_catalog.cc)
};

// Several nDPI protocols may land on one application; an application may have no row (see
// docs/classify.md for the catalog names nDPI 4.2 cannot recognise).
inline constexpr std::array<NdpiAppRow, 85> kNdpiApps = {{
    {"Microsoft365", "microsoft365"},
    {"Hotmail", "outlook"},  // outlook.com / live.com; Exchange Online comes as Microsoft365
    {"MS_OneDrive", "onedrive"},
    {"Teams", "teams"},
    {"Skype_Teams", "teams"},        // Skype/Teams calls (media relays by address and STUN)
    {"Google", "google-workspace"},  // 4.2 does not tell Google's front door from Workspace
    {"GoogleServices", "google-workspace"},
    {"GoogleClassroom", "google-workspace"},
    {"GMail", "gmail"},
    {"GoogleHangoutDuo", "google-meet"},
    {"GoogleDrive", "google-drive"},
    {"GoogleDocs", "google-drive"},
    {"Zoom", "zoom"},
    {"Webex", "webex"},
    {"SIP", "sip"},
    {"RTP", "rtp"},
    {"RTCP", "rtp"},
    {"DNS", "dns"},
    {"DoH_DoT", "dns"},
    {"HTTP", "http"},
    {"HTTP_Connect", "http"},
    {"HTTP_Proxy", "http"},
    {"TLS", "https"},
    {"QUIC", "quic"},
    {"SSH", "ssh"},
    {"RDP", "rdp"},
    {"SMBv1", "smb"},
    {"SMBv23", "smb"},
    {"WindowsUpdate", "windows-update"},
    {"AppleStore", "apple-update"},
    {"RSYNC", "backup"},
    {"YouTube", "youtube"},
    {"YouTubeUpload", "youtube"},
    {"NetFlix", "netflix"},
    {"NTP", "ntp"},
    {"DHCP", "dhcp"},
    {"DHCPV6", "dhcp"},
    {"ICMP", "icmp"},
    {"ICMPV6", "icmp"},
    {"SNMP", "snmp"},
    {"Syslog", "syslog"},
    {"LDAP", "ldap"},
    {"Kerberos", "kerberos"},
    {"Radius", "radius"},
    {"IPsec", "ipsec"},
    {"OpenVPN", "openvpn"},
    {"WireGuard", "wireguard"},
    {"VNC", "vnc"},
    {"TeamViewer", "teamviewer"},
    {"AnyDesk", "anydesk"},
    {"Citrix", "citrix"},
    {"FTP_CONTROL", "ftp"},
    {"FTP_DATA", "ftp"},
    {"Dropbox", "dropbox"},
    {"SMTP", "smtp"},
    {"SMTPS", "smtp"},
    {"IMAP", "imap"},
    {"IMAPS", "imap"},
    {"POP3", "pop3"},
    {"POPS", "pop3"},
    {"Salesforce", "salesforce"},
    {"Slack", "slack"},
    {"STUN", "stun"},
    {"PlayStore", "android-update"},
    {"Twitch", "twitch"},
    {"Spotify", "spotify"},
    {"Deezer", "deezer"},
    {"AmazonVideo", "prime-video"},
    {"DisneyPlus", "disney-plus"},
    {"Facebook", "facebook"},
    {"Messenger", "facebook"},
    {"FacebookVoip", "facebook"},
    {"Instagram", "instagram"},
    {"TikTok", "tiktok"},
    {"Twitter", "twitter"},
    {"LinkedIn", "linkedin"},
    {"WhatsApp", "whatsapp"},
    {"WhatsAppCall", "whatsapp"},
    {"WhatsAppFiles", "whatsapp"},
    {"Signal", "signal"},
    {"SignalVoip", "signal"},
    {"AppleiCloud", "apple-icloud"},
    {"Steam", "steam"},
    {"MDNS", "mdns"},
    {"BitTorrent", "bittorrent"},
}};

inline constexpr int16_t kNoAppRow = -1;

// The row of `ndpi_name` in kNdpiApps, or kNoAppRow.
constexpr int16_t ndpi_app_row(std::string_view ndpi_name) noexcept {
  for (size_t i = 0; i < kNdpiApps.size(); ++i)
    if (kNdpiApps[i].ndpi == ndpi_name) return static_cast<int16_t>(i);
  return kNoAppRow;
}

// The catalog name nDPI's `ndpi_name` stands for, or "" when it has none.
constexpr std::string_view catalog_app_for(std::string_view ndpi_name) noexcept {
  const int16_t r = ndpi_app_row(ndpi_name);
  return r == kNoAppRow ? std::string_view{} : kNdpiApps[static_cast<size_t>(r)].app;
}

// Policy application id per kNdpiApps row (kAppUnknown where the policy lacks that name).
struct AppIdMap {
  std::array<uint16_t, kNdpiApps.size()> by_row{};

  uint16_t app_for(int16_t row) const noexcept {
    return row >= 0 && static_cast<size_t>(row) < by_row.size() ? by_row[static_cast<size_t>(row)]
                                                                : kAppUnknown;
  }
};

// Resolves the table against a policy's applications (apps[i].id == i). Built-in, not custom:
// a custom application that reuses a catalog name is the policy's own definition, matched by
// its domains/prefixes/ports, and nDPI's opinion must not be attributed to it. No allocation.
inline AppIdMap resolve_app_ids(std::span<const AppDef> apps) noexcept {
  AppIdMap m;
  for (size_t r = 0; r < kNdpiApps.size(); ++r)
    for (const AppDef& a : apps)
      if (!a.custom && a.id != kAppUnknown && a.name == kNdpiApps[r].app) {
        m.by_row[r] = a.id;
        break;
      }
  return m;
}

}  // namespace traboule::dp
