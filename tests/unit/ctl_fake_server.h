// SPDX-License-Identifier: Apache-2.0
// A scripted stand-in for the daemon's API in traboulectl's unit tests: replies keyed by
// "METHOD target" (or a transport failure), and a log of every request sent, per device.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/traboulectl/api_client.h"
#include "tools/traboulectl/fleet.h"

namespace traboule::ctl::testing {

struct SentRequest {
  std::string server;  // "https://host:port"
  std::string method;
  std::string target;
  std::string body;
  std::string token;
};

class FakeServers {
 public:
  // What `server` answers to `method target`.
  void reply(const std::string& server, const std::string& method, const std::string& target,
             int status, std::string body, std::string retry_after = "") {
    TransportResult r;
    r.reply.status = status;
    r.reply.body = std::move(body);
    r.reply.retry_after = std::move(retry_after);
    replies_[server + " " + method + " " + target] = r;
  }
  void fail(const std::string& server, TransportFailure failure) {
    TransportResult r;
    r.failure = failure;
    r.detail = "scripted";
    down_[server] = r;
  }
  const std::vector<SentRequest>& sent() const { return sent_; }

  TransportFactory factory() {
    return [this](const ConnectionSettings& s) -> std::unique_ptr<Transport> {
      return std::make_unique<Fake>(this, s);
    };
  }

 private:
  class Fake final : public Transport {
   public:
    Fake(FakeServers* owner, ConnectionSettings s) : owner_(owner), settings_(std::move(s)) {}
    TransportResult send(const std::string& method, const std::string& target,
                         const std::string* body) override {
      const std::string server = settings_.server.text();
      owner_->sent_.push_back({server, method, target, body ? *body : "", settings_.token});
      const auto down = owner_->down_.find(server);
      if (down != owner_->down_.end()) return down->second;
      const auto it = owner_->replies_.find(server + " " + method + " " + target);
      if (it != owner_->replies_.end()) return it->second;
      TransportResult r;
      r.reply.status = 404;
      r.reply.body = R"({"error":{"code":"not_found","message":"not scripted"}})";
      return r;
    }

   private:
    FakeServers* owner_;
    ConnectionSettings settings_;
  };

  std::map<std::string, TransportResult> replies_;
  std::map<std::string, TransportResult> down_;
  std::vector<SentRequest> sent_;
};

}  // namespace traboule::ctl::testing
