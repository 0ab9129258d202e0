// SPDX-License-Identifier: Apache-2.0
#include "controlplane/policy/app_catalog.h"

#include <array>

namespace traboule::cp {
namespace {

// Ids are stable: append, never renumber (stored policies and counters refer to them).
constexpr std::array<CategoryInfo, 15> kCategories = {{
    {1, "collaboration", "documents, chat and shared workspaces"},
    {2, "video-conferencing", "meetings with audio and video"},
    {3, "voip", "telephony signalling and voice media"},
    {4, "saas", "business applications hosted by a provider"},
    {5, "email", "mail access and transfer"},
    {6, "web", "generic web browsing"},
    {7, "streaming", "video and audio streaming for entertainment"},
    {8, "software-update", "operating system and software updates"},
    {9, "file-transfer", "file sharing and cloud storage"},
    {10, "backup", "backup and replication to a remote site or cloud"},
    {11, "network-service", "infrastructure protocols the network itself needs"},
    {12, "remote-access", "remote shells, desktops and VPNs"},
    {13, "social-media", "social networks"},
    {14, "business", "line-of-business applications (custom applications usually go here)"},
    {15, "messaging", "instant messaging"},
}};

constexpr std::array<AppInfo, 69> kApps = {{
    {1, "microsoft365", "saas", "", "Microsoft 365 front doors and services not listed below"},
    {2, "outlook", "email", "microsoft365", "Exchange Online / Outlook"},
    {3, "sharepoint", "collaboration", "microsoft365", "SharePoint Online"},
    {4, "onedrive", "file-transfer", "microsoft365", "OneDrive for Business"},
    {5, "teams", "video-conferencing", "microsoft365", "Microsoft Teams (chat, meetings, calls)"},
    {6, "google-workspace", "saas", "", "Google Workspace services not listed below"},
    {7, "gmail", "email", "google-workspace", "Gmail"},
    {8, "google-meet", "video-conferencing", "google-workspace", "Google Meet"},
    {9, "google-drive", "file-transfer", "google-workspace", "Google Drive, Docs, Sheets"},
    {10, "zoom", "video-conferencing", "", "Zoom meetings"},
    {11, "webex", "video-conferencing", "", "Cisco Webex"},
    {12, "sip", "voip", "", "SIP signalling (5060/5061)"},
    {13, "rtp", "voip", "", "RTP/RTCP media"},
    {14, "dns", "network-service", "", "DNS, DNS over TLS"},
    {15, "http", "web", "", "plain HTTP"},
    {16, "https", "web", "", "HTTP over TLS"},
    {17, "quic", "web", "", "QUIC / HTTP/3"},
    {18, "ssh", "remote-access", "", "SSH, SFTP, SCP"},
    {19, "rdp", "remote-access", "", "Remote Desktop Protocol"},
    {20, "smb", "file-transfer", "", "Windows file sharing"},
    {21, "windows-update", "software-update", "", "Windows Update and Delivery Optimization"},
    {22, "apple-update", "software-update", "", "Apple software updates"},
    {23, "backup", "backup", "", "generic backup traffic (Veeam, Bacula, rsync jobs...)"},
    {24, "youtube", "streaming", "", "YouTube"},
    {25, "netflix", "streaming", "", "Netflix"},
    {26, "ntp", "network-service", "", "time synchronisation"},
    {27, "dhcp", "network-service", "", "DHCP and DHCPv6"},
    {28, "icmp", "network-service", "", "ICMP and ICMPv6 (ping, errors)"},
    {29, "snmp", "network-service", "", "SNMP"},
    {30, "syslog", "network-service", "", "syslog"},
    {31, "ldap", "network-service", "", "LDAP and LDAPS"},
    {32, "kerberos", "network-service", "", "Kerberos"},
    {33, "radius", "network-service", "", "RADIUS"},
    {34, "ipsec", "remote-access", "", "IKE and ESP"},
    {35, "openvpn", "remote-access", "", "OpenVPN"},
    {36, "wireguard", "remote-access", "", "WireGuard"},
    {37, "vnc", "remote-access", "", "VNC"},
    {38, "teamviewer", "remote-access", "", "TeamViewer"},
    {39, "anydesk", "remote-access", "", "AnyDesk"},
    {40, "citrix", "remote-access", "", "Citrix Virtual Apps and Desktops (ICA/HDX)"},
    {41, "ftp", "file-transfer", "", "FTP"},
    {42, "dropbox", "file-transfer", "", "Dropbox"},
    {43, "smtp", "email", "", "SMTP submission and relay"},
    {44, "imap", "email", "", "IMAP"},
    {45, "pop3", "email", "", "POP3"},
    {46, "salesforce", "saas", "", "Salesforce"},
    {47, "slack", "collaboration", "", "Slack"},
    {48, "webrtc", "video-conferencing", "", "WebRTC media (STUN/TURN, SRTP)"},
    {49, "stun", "network-service", "", "STUN/TURN"},
    {50, "android-update", "software-update", "", "Google Play and Android updates"},
    {51, "linux-update", "software-update", "", "Linux distribution mirrors"},
    {52, "antivirus-update", "software-update", "", "antivirus signature updates"},
    {53, "twitch", "streaming", "", "Twitch"},
    {54, "spotify", "streaming", "", "Spotify"},
    {55, "deezer", "streaming", "", "Deezer"},
    {56, "dailymotion", "streaming", "", "Dailymotion"},
    {57, "prime-video", "streaming", "", "Amazon Prime Video"},
    {58, "disney-plus", "streaming", "", "Disney+"},
    {59, "facebook", "social-media", "", "Facebook"},
    {60, "instagram", "social-media", "", "Instagram"},
    {61, "tiktok", "social-media", "", "TikTok"},
    {62, "twitter", "social-media", "", "Twitter / X"},
    {63, "linkedin", "social-media", "", "LinkedIn"},
    {64, "whatsapp", "messaging", "", "WhatsApp (messages and calls)"},
    {65, "signal", "messaging", "", "Signal"},
    {66, "apple-icloud", "file-transfer", "", "iCloud"},
    {67, "steam", "software-update", "", "Steam game downloads"},
    {68, "mdns", "network-service", "", "multicast DNS (local only)"},
    {69, "bittorrent", "file-transfer", "", "BitTorrent peer-to-peer"},
}};

}  // namespace

std::span<const CategoryInfo> builtin_categories() {
  return kCategories;
}
std::span<const AppInfo> builtin_apps() {
  return kApps;
}

uint16_t first_custom_app_id() {
  return static_cast<uint16_t>(kApps.size() + 1);
}

const CategoryInfo* find_category(std::string_view name) {
  for (const auto& c : kCategories)
    if (c.name == name) return &c;
  return nullptr;
}

const AppInfo* find_app(std::string_view name) {
  for (const auto& a : kApps)
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace traboule::cp
