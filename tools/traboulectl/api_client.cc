// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/api_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "tools/traboulectl/json_util.h"
#include "tools/traboulectl/table.h"

namespace traboule::ctl {
namespace {

constexpr std::string_view kApiBase = "/api/v1";

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool is_ipv6_char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
}

// A short, printable excerpt of a body for error messages.
std::string excerpt(const std::string& body) {
  if (body.empty()) return "an empty body";
  return "\"" + truncate_text(sanitize_text(body), 80) + "\"";
}

// The server's error message, if its body is the documented {"error": {"message"}}.
std::string server_message(const nlohmann::json& doc) {
  if (!doc.is_object()) return {};
  const auto it = doc.find("error");
  if (it == doc.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_object()) return {};
  const auto msg = it->find("message");
  if (msg != it->end() && msg->is_string()) return msg->get<std::string>();
  return {};
}

std::string with_reason(std::string head, const std::string& reason) {
  if (reason.empty()) return head;
  return head + ": " + truncate_text(sanitize_text(reason), 300);
}

}  // namespace

std::string ServerUrl::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ServerUrl> parse_server_url(std::string_view text, std::string& error) {
  const std::string shown = "\"" + truncate_text(sanitize_text(text), 100) + "\"";
  auto fail = [&](const std::string& why) -> std::optional<ServerUrl> {
    error = "bad server URL " + shown + ": " + why;
    return std::nullopt;
  };
  std::string lower(text.substr(0, std::min<size_t>(text.size(), 8)));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.rfind("http://", 0) == 0) {
    return fail("plain http is refused (the token would travel in clear); use https://");
  }
  if (lower.rfind("https://", 0) != 0) return fail("must start with https://");
  std::string_view rest = text.substr(8);
  ServerUrl url;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in the IPv6 address");
    url.host = std::string(rest.substr(1, close - 1));
    if (url.host.empty() || !std::all_of(url.host.begin(), url.host.end(), is_ipv6_char) ||
        url.host.find(':') == std::string::npos) {
      return fail("bad IPv6 address");
    }
    rest.remove_prefix(close + 1);
  } else {
    size_t end = 0;
    while (end < rest.size() && is_host_char(rest[end])) ++end;
    url.host = std::string(rest.substr(0, end));
    if (url.host.empty()) return fail("no host");
    rest.remove_prefix(end);
  }
  if (!rest.empty() && rest.front() == ':') {
    rest.remove_prefix(1);
    size_t end = 0;
    while (end < rest.size() && std::isdigit(static_cast<unsigned char>(rest[end]))) ++end;
    unsigned port = 0;
    const auto digits = rest.substr(0, end);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc() || port == 0 || port > 65535) {
      return fail("port must be 1-65535");
    }
    (void)ptr;
    url.port = static_cast<uint16_t>(port);
    rest.remove_prefix(end);
  }
  if (rest == "/" || rest == "/api/v1" || rest == "/api/v1/") rest = {};
  if (!rest.empty()) {
    return fail("unexpected \"" + sanitize_text(rest) +
                "\" after the host and port (give only https://HOST:PORT)");
  }
  return url;
}

std::optional<uint64_t> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > 10) return std::nullopt;
  uint64_t seconds = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
  return seconds;
}

std::string format_detail(const nlohmann::json& detail) {
  if (!detail.is_object()) {
    return sanitize_text(detail.is_string() ? detail.get<std::string>() : safe_dump(detail));
  }
  auto field = [&](const char* name) -> std::string {
    const auto it = detail.find(name);
    if (it == detail.end() || it->is_null()) return {};
    return it->is_string() ? it->get<std::string>() : safe_dump(*it);
  };
  std::string pointer = field("pointer");
  if (pointer.empty()) pointer = "(document)";
  const std::string value = field("value");
  std::string message = field("message");
  if (message.empty()) message = "(no message)";
  std::string line = pointer + ": ";
  if (!value.empty()) line += truncate_text(value, 120) + ": ";
  line += message;
  return sanitize_text(line);
}

CtlError map_http_error(int status, const std::string& body, const std::string& retry_after) {
  CtlError err;
  err.http_status = status;
  err.exit_code = kExitFailed;
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) doc = nullptr;
  err.body = doc;
  const std::string reason = server_message(doc);
  if (doc.is_object()) {
    const auto e = doc.find("error");
    if (e != doc.end() && e->is_object()) {
      const auto d = e->find("details");
      if (d != e->end() && d->is_array()) {
        for (const auto& item : *d) err.details.push_back(format_detail(item));
      }
    }
  }
  switch (status) {
    case 400:
      err.message = with_reason("refused by the server (400)", reason);
      break;
    case 401:
      err.exit_code = kExitUnreachable;
      err.message = with_reason("authentication failed: check --token", reason);
      break;
    case 403:
      err.message =
          with_reason("permission denied: this token's role may not do this (403)", reason);
      break;
    case 404:
      err.message = with_reason("not found (404)", reason);
      break;
    case 405:
      err.message = with_reason(
          "method not allowed (405): does the server speak the same API version as this "
          "traboulectl?",
          reason);
      break;
    case 409:
      err.message = with_reason("conflict (409)", reason);
      break;
    case 413:
      err.message = with_reason("request too large for the server (413)", reason);
      break;
    case 429: {
      const auto seconds = parse_retry_after(retry_after);
      err.message = seconds ? "rate limited, retry after " + std::to_string(*seconds) + " s"
                            : std::string("rate limited, retry later");
      break;
    }
    default:
      if (status >= 500 && status <= 599) {
        err.message = with_reason("server error (" + std::to_string(status) + ")", reason);
      } else {
        err.message = with_reason("unexpected HTTP status " + std::to_string(status), reason);
      }
  }
  if (reason.empty() && doc.is_null() && !body.empty() && status != 429 && status != 401) {
    err.message += " (answer was not JSON: " + excerpt(body) + ")";
  }
  return err;
}

CtlError map_transport_failure(TransportFailure failure, const std::string& detail,
                               const std::string& server) {
  CtlError err;
  err.exit_code = kExitUnreachable;
  const std::string at = " " + server;
  switch (failure) {
    case TransportFailure::kConnect:
      err.message = "cannot connect to" + at + " (is trabouled running and --server right?)";
      break;
    case TransportFailure::kTls:
      err.message = "TLS handshake with" + at + " failed";
      break;
    case TransportFailure::kTlsVerify:
      err.message = "the certificate of" + at +
                    " is not trusted (give its CA with --ca, or --insecure for a lab)";
      break;
    case TransportFailure::kTimeout:
      err.message = "no answer from" + at + " in time (see --timeout)";
      break;
    case TransportFailure::kIo:
      err.message = "connection to" + at + " broke, or its answer took longer than --timeout";
      break;
    case TransportFailure::kTooLarge:
      err.exit_code = kExitFailed;
      err.message = "answer from" + at + " is larger than " + std::to_string(kMaxReplyBytes >> 20) +
                    " MiB; refused";
      break;
    case TransportFailure::kNone:
    case TransportFailure::kOther:
      err.message = "request to" + at + " failed";
      break;
  }
  if (!detail.empty()) err.message += ": " + sanitize_text(detail);
  return err;
}

CtlError malformed_answer(const std::string& what, const std::string& body) {
  CtlError err;
  err.exit_code = kExitFailed;
  err.message = "malformed answer from the server: " + what + " (got " + excerpt(body) + ")";
  return err;
}

ApiResult interpret(const TransportResult& result, const std::string& server) {
  ApiResult out;
  if (result.failure != TransportFailure::kNone) {
    out.error = map_transport_failure(result.failure, result.detail, server);
    return out;
  }
  out.status = result.reply.status;
  if (out.status < 200 || out.status > 299) {
    out.error = map_http_error(out.status, result.reply.body, result.reply.retry_after);
    return out;
  }
  if (result.reply.body.empty()) {
    out.ok = true;
    out.body = nullptr;
    return out;
  }
  out.body = nlohmann::json::parse(result.reply.body, nullptr, false);
  if (out.body.is_discarded()) {
    out.body = nullptr;
    out.error = malformed_answer("not JSON", result.reply.body);
    out.error.http_status = out.status;
    return out;
  }
  out.ok = true;
  return out;
}

std::optional<ChangeAnswer> parse_change_answer(const nlohmann::json& body, std::string& error) {
  if (!body.is_object()) {
    error = "expected an object";
    return std::nullopt;
  }
  const auto v = body.find("version");
  if (v == body.end()) {
    error = "no \"version\"";
    return std::nullopt;
  }
  const nlohmann::json& record = v->is_object() ? *v : body;
  const auto number = record.find("version");
  if (number == record.end() || !number->is_number_unsigned() || number->get<uint64_t>() == 0) {
    error = "\"version\" is not a version number";
    return std::nullopt;
  }
  ChangeAnswer answer;
  answer.version = number->get<uint64_t>();
  auto text = [&](const char* key) -> std::string {
    const auto it = record.find(key);
    return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  answer.hash = text("hash");
  answer.state = text("state");
  answer.deadline = text("confirm_deadline");
  if (answer.deadline.empty()) answer.deadline = text("deadline");
  const auto pending = record.find("pending");
  answer.pending = answer.state == "pending" ||
                   (pending != record.end() && pending->is_boolean() && pending->get<bool>());
  const auto diff = body.find("diff");
  answer.diff = diff != body.end() && diff->is_array() ? *diff : nlohmann::json(nullptr);
  return answer;
}

ApiClient::ApiClient(std::unique_ptr<Transport> transport, std::string server_text)
    : transport_(std::move(transport)), server_(std::move(server_text)) {}

ApiResult ApiClient::get(const std::string& path) {
  return interpret(transport_->send("GET", std::string(kApiBase) + path, nullptr), server_);
}

ApiResult ApiClient::post(const std::string& path, const nlohmann::json& body) {
  return post_text(path, safe_dump(body));
}

ApiResult ApiClient::post_text(const std::string& path, const std::string& body) {
  return interpret(transport_->send("POST", std::string(kApiBase) + path, &body), server_);
}

std::string url_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

namespace {

class HttpsTransport final : public Transport {
 public:
  explicit HttpsTransport(const ConnectionSettings& settings)
      : settings_(settings), client_(settings.server.host, settings.server.port) {
    const auto whole_s = static_cast<time_t>(settings.timeout_s);
    const auto usec =
        static_cast<time_t>((settings.timeout_s - static_cast<double>(whole_s)) * 1e6);
    client_.set_connection_timeout(whole_s, usec);
    client_.set_read_timeout(whole_s, usec);
    client_.set_write_timeout(whole_s, usec);
    client_.enable_server_certificate_verification(!settings.insecure);
    if (!settings.ca_file.empty()) client_.set_ca_cert_path(settings.ca_file);
    client_.set_follow_location(false);
    client_.set_keep_alive(true);
  }

  TransportResult send(const std::string& method, const std::string& target,
                       const std::string* body) override {
    httplib::Request req;
    req.method = method;
    req.path = target;
    req.headers = {{"Accept", "application/json"},
                   {"User-Agent", "traboulectl"},
                   {"Authorization", "Bearer " + settings_.token}};
    if (body != nullptr) {
      req.body = *body;
      req.headers.emplace("Content-Type", "application/json");
    }
    std::string received;
    bool too_large = false;
    req.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      if (received.size() + length > kMaxReplyBytes) {
        too_large = true;
        return false;
      }
      received.append(data, length);
      return true;
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const bool sent = client_.send(req, res, error);
    TransportResult out;
    if (too_large) {
      out.failure = TransportFailure::kTooLarge;
      return out;
    }
    if (!sent || error != httplib::Error::Success) {
      out.detail = httplib::to_string(error);
      switch (error) {
        case httplib::Error::Connection:
        case httplib::Error::BindIPAddress:
          out.failure = TransportFailure::kConnect;
          break;
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLLoadingCerts:
          out.failure = TransportFailure::kTls;
          break;
        case httplib::Error::SSLServerVerification:
          out.failure = TransportFailure::kTlsVerify;
          break;
        case httplib::Error::ConnectionTimeout:
          out.failure = TransportFailure::kTimeout;
          break;
        case httplib::Error::Read:
        case httplib::Error::Write:
          out.failure = TransportFailure::kIo;
          break;
        default:
          out.failure = TransportFailure::kOther;
      }
      if (error == httplib::Error::SSLLoadingCerts && !settings_.ca_file.empty()) {
        out.detail = "cannot load CA file " + settings_.ca_file;
      }
      return out;
    }
    out.reply.status = res.status;
    out.reply.body = received.empty() ? std::move(res.body) : std::move(received);
    out.reply.retry_after = res.get_header_value("Retry-After");
    return out;
  }

 private:
  ConnectionSettings settings_;
  httplib::SSLClient client_;
};

}  // namespace

std::unique_ptr<Transport> make_https_transport(const ConnectionSettings& settings) {
  return std::make_unique<HttpsTransport>(settings);
}

}  // namespace traboule::ctl
