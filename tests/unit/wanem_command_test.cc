// SPDX-License-Identifier: Apache-2.0
// `ctl` commands and the control protocol of traboule-wanem without sockets: words read left
// to right (dir=, profile=, down/up/clear), atomic refusal of bad commands, and hostile
// requests on the control socket's JSON.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/wanem/command.h"
#include "tools/wanem/profiles.h"
#include "tools/wanem/service.h"

namespace traboule::wanem {
namespace {

using Words = std::vector<std::string>;

LinkParams run(const Words& words, const LinkParams& current = {}) {
  Command cmd;
  auto err = parse_command(words, current, &cmd);
  EXPECT_FALSE(err) << *err;
  EXPECT_EQ(cmd.kind, CommandKind::kUpdate);
  return cmd.params;
}

TEST(WanemCommand, DirectionsAndOrder) {
  LinkParams p = run({"delay=40ms", "loss=2%"});
  EXPECT_EQ(p[Dir::kA2B].delay_ns, 40'000'000);
  EXPECT_EQ(p[Dir::kB2A].delay_ns, 40'000'000);
  EXPECT_DOUBLE_EQ(p[Dir::kB2A].loss, 0.02);

  p = run({"dir=a2b", "delay=10ms", "dir=b2a", "delay=30ms", "dir=both", "jitter=1ms"});
  EXPECT_EQ(p[Dir::kA2B].delay_ns, 10'000'000);
  EXPECT_EQ(p[Dir::kB2A].delay_ns, 30'000'000);
  EXPECT_EQ(p[Dir::kA2B].jitter_ns, 1'000'000);
  EXPECT_EQ(p[Dir::kB2A].jitter_ns, 1'000'000);

  // Unnamed keys keep their value: a command changes only what it names.
  LinkParams q = run({"dir=b2a", "rate=2mbit"}, p);
  EXPECT_EQ(q[Dir::kB2A].delay_ns, 30'000'000);
  EXPECT_EQ(q[Dir::kB2A].rate_bps, 2'000'000u);
  EXPECT_EQ(q[Dir::kA2B].rate_bps, 0u);

  // A later word wins.
  EXPECT_EQ(run({"delay=1ms", "delay=2ms"})[Dir::kA2B].delay_ns, 2'000'000);
}

TEST(WanemCommand, DownUpClearProfile) {
  LinkParams base = run({"delay=40ms", "loss=1%"});
  LinkParams down = run({"down"}, base);
  EXPECT_FALSE(down[Dir::kA2B].up);
  EXPECT_FALSE(down[Dir::kB2A].up);
  EXPECT_EQ(down[Dir::kA2B].delay_ns, 40'000'000) << "down keeps the other parameters";

  LinkParams half = run({"dir=b2a", "down"}, base);
  EXPECT_TRUE(half[Dir::kA2B].up);
  EXPECT_FALSE(half[Dir::kB2A].up);
  EXPECT_TRUE(run({"up"}, half)[Dir::kB2A].up);

  LinkParams cleared = run({"clear"}, down);
  EXPECT_EQ(cleared[Dir::kA2B], DirectionParams{});
  EXPECT_EQ(cleared[Dir::kB2A], DirectionParams{});
  LinkParams cleared_then_set = run({"dir=a2b", "clear", "delay=5ms"}, base);
  EXPECT_EQ(cleared_then_set[Dir::kA2B].delay_ns, 5'000'000);
  EXPECT_DOUBLE_EQ(cleared_then_set[Dir::kA2B].loss, 0.0);
  EXPECT_DOUBLE_EQ(cleared_then_set[Dir::kB2A].loss, 0.01);

  LinkParams g4 = run({"profile=4g"}, base);
  DirectionParams up4g, down4g;
  ASSERT_FALSE(apply_profile(*find_profile("4g"), Dir::kA2B, &up4g));
  ASSERT_FALSE(apply_profile(*find_profile("4g"), Dir::kB2A, &down4g));
  EXPECT_EQ(g4[Dir::kA2B], up4g);
  EXPECT_EQ(g4[Dir::kB2A], down4g);
  // A profile then overrides; a profile on one direction only.
  LinkParams tuned = run({"profile=adsl", "loss=3%"}, base);
  EXPECT_DOUBLE_EQ(tuned[Dir::kA2B].loss, 0.03);
  EXPECT_EQ(tuned[Dir::kA2B].rate_bps, 800'000u);
  LinkParams one = run({"dir=b2a", "profile=satellite"}, base);
  EXPECT_EQ(one[Dir::kA2B].delay_ns, 40'000'000);
  EXPECT_EQ(one[Dir::kB2A].delay_ns, 270'000'000);
  // A profile keeps an outage in place.
  EXPECT_FALSE(run({"profile=fiber"}, down)[Dir::kA2B].up);
}

TEST(WanemCommand, ShowAndZeroStandAlone) {
  Command cmd;
  ASSERT_FALSE(parse_command({"show"}, {}, &cmd));
  EXPECT_EQ(cmd.kind, CommandKind::kShow);
  EXPECT_FALSE(cmd.json);
  ASSERT_FALSE(parse_command({"show", "--json"}, {}, &cmd));
  EXPECT_TRUE(cmd.json);
  ASSERT_FALSE(parse_command({"zero"}, {}, &cmd));
  EXPECT_EQ(cmd.kind, CommandKind::kZero);
}

TEST(WanemCommand, HostileCommandsAreRefusedWhole) {
  struct Row {
    Words words;
    const char* must_contain;
  };
  const Row rows[] = {
      {{}, "empty command"},
      {{"delay=40ms", "dleay=5ms"}, "unknown key \"dleay\""},
      {{"delay=40ms", "loss=2"}, "bad value for loss: \"2\""},
      {{"dir=up"}, "bad value for dir: \"up\""},
      {{"dir="}, "bad value for dir: \"\""},
      {{"profile=fibre"}, "bad value for profile: \"fibre\": expected one of fiber, vdsl"},
      {{"profile="}, "bad value for profile"},
      {{"frobnicate"}, "unknown word \"frobnicate\""},
      {{""}, "unknown word \"\""},
      {{"="}, "unknown key \"\""},
      {{"delay==5ms"}, "bad value for delay: \"=5ms\""},
      {{"show", "delay=5ms"}, "\"show\" takes only --json"},
      {{"delay=5ms", "show"}, "\"show\" must be the only word"},
      {{"zero", "now"}, "\"zero\" takes no argument"},
      {{"down", "zero"}, "\"zero\" must be the only word"},
      {{std::string(300, 'a') + "=1ms"}, "word too long"},
      {Words(65, "delay=1ms"), "too many words"},
      {{std::string("delay=1ms\n") + "loss=5%"}, "bad value for delay"},
      {{std::string("delay\0=1ms", 10)}, "unknown key \"delay\\x00\""},
  };
  LinkParams current = run({"delay=7ms"});
  for (const Row& row : rows) {
    SCOPED_TRACE(row.must_contain);
    Command cmd;
    cmd.params = current;
    auto err = parse_command(row.words, current, &cmd);
    ASSERT_TRUE(err);
    EXPECT_NE(err->find(row.must_contain), std::string::npos) << *err;
    EXPECT_LT(err->size(), 500u);
  }
}

// A link whose "directions" only record what they were told.
class FakeLink : public LinkControl {
 public:
  bool apply(const LinkParams& params) override {
    params_ = params;
    ++applied;
    return answer;
  }
  bool zero_counters() override {
    ++zeroed;
    return answer;
  }
  LinkParams params() const override { return params_; }
  DirectionSnapshot snapshot(Dir d) const override {
    DirectionSnapshot s;
    s.params = params_[d];
    s.core.rx_frames = d == Dir::kA2B ? 11 : 22;
    s.core.drop_ge_loss = 3;
    s.io.tx_frames = 8;
    s.queue = {3000, 2};
    return s;
  }
  int applied = 0;
  int zeroed = 0;
  bool answer = true;

 private:
  LinkParams params_;
};

nlohmann::json call(FakeLink* link, const std::string& request) {
  LinkInfo info{"fiber1", "veth-a", "veth-b", 7, 1.5};
  std::vector<std::string> logged;
  nlohmann::json reply = nlohmann::json::parse(
      handle_request(request, link, info, [&](const std::string& m) { logged.push_back(m); }));
  return reply;
}

TEST(WanemService, UpdateShowZero) {
  FakeLink link;
  nlohmann::json r = call(&link, make_request({"dir=a2b", "delay=40ms", "rate=2mbit"}));
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  EXPECT_EQ(link.applied, 1);
  EXPECT_EQ(link.params()[Dir::kA2B].delay_ns, 40'000'000);
  EXPECT_EQ(r["params"]["a2b"]["delay_us"].get<double>(), 40'000.0);
  EXPECT_EQ(r["params"]["a2b"]["rate_bps"].get<uint64_t>(), 2'000'000u);
  EXPECT_EQ(r["params"]["b2a"]["delay_us"].get<double>(), 0.0);

  r = call(&link, make_request({"show", "--json"}));
  ASSERT_TRUE(r["ok"].get<bool>());
  const nlohmann::json& s = r["status"];
  EXPECT_EQ(s["name"], "fiber1");
  EXPECT_EQ(s["a"], "veth-a");
  EXPECT_EQ(s["a2b"]["counters"]["rx_frames"].get<uint64_t>(), 11u);
  EXPECT_EQ(s["b2a"]["counters"]["rx_frames"].get<uint64_t>(), 22u);
  EXPECT_EQ(s["a2b"]["counters"]["dropped"]["ge_loss"].get<uint64_t>(), 3u);
  for (const char* cause : {"loss", "ge_loss", "queue_full", "outage"}) {
    EXPECT_TRUE(s["a2b"]["counters"]["dropped"].contains(cause)) << cause;
  }
  EXPECT_EQ(s["a2b"]["counters"]["queue_bytes"].get<uint64_t>(), 3000u);
  EXPECT_EQ(s["a2b"]["counters"]["queue_packets"].get<uint64_t>(), 2u);
  EXPECT_TRUE(s["a2b"]["counters"].contains("delay_applied_us"));
  EXPECT_EQ(s["a2b"]["params"]["state"], "up");
  std::string text = format_status(s);
  EXPECT_NE(text.find("a2b (upload)"), std::string::npos) << text;
  EXPECT_NE(text.find("delay=40ms"), std::string::npos) << text;
  EXPECT_NE(text.find("ge_loss=3"), std::string::npos) << text;

  r = call(&link, make_request({"zero"}));
  EXPECT_TRUE(r["ok"].get<bool>());
  EXPECT_EQ(link.zeroed, 1);

  link.answer = false;
  r = call(&link, make_request({"down"}));
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_NE(r["error"].get<std::string>().find("did not answer"), std::string::npos);
}

TEST(WanemService, HostileRequests) {
  struct Row {
    std::string request;
    const char* must_contain;
  };
  const Row rows[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"show", "not JSON"},
      {"[]", "expected {\"words\""},
      {"{\"words\": \"show\"}", "expected {\"words\""},
      {"{\"word\": [\"show\"]}", "expected {\"words\""},
      {"{\"words\": [1, 2]}", "every word must be a string"},
      {"{\"words\": [null]}", "every word must be a string"},
      {"{\"words\": []}", "empty command"},
      {"{\"words\": [\"loss=200%\"]}", "at most 100%"},
      {"{\"words\": [\"delay=1ms\", \"rate=fast\"]}", "bad value for rate: \"fast\""},
      {"{\"words\": [\"\\u0000\"]}", "unknown word \"\\x00\""},
      {std::string("{\"words\": [\"\xff\xfe\"]}"), "not JSON"},
      {"{\"words\": [\"show\"]} trailing", "not JSON"},
      {std::string(100, '['), "not JSON"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.request.substr(0, 60));
    FakeLink link;
    nlohmann::json r = call(&link, row.request);
    ASSERT_FALSE(r["ok"].get<bool>());
    EXPECT_NE(r["error"].get<std::string>().find(row.must_contain), std::string::npos)
        << r["error"];
    EXPECT_EQ(link.applied, 0) << "nothing is applied from a refused request";
  }
}

TEST(WanemService, FormatStatusToleratesMissingFields) {
  EXPECT_NE(format_status(nlohmann::json::object()).find("link ?"), std::string::npos);
  nlohmann::json odd = {{"name", 5}, {"a2b", {{"counters", {{"rx_frames", "many"}}}}}};
  EXPECT_NE(format_status(odd).find("rx 0 frames"), std::string::npos);
}

}  // namespace
}  // namespace traboule::wanem
