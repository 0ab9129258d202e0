// SPDX-License-Identifier: Apache-2.0
#include "tests/testing/eal_env.h"

#include <rte_eal.h>
#include <rte_lcore.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "dataplane/io/mempool.h"

namespace traboule::testing {
namespace {

rte_mempool* g_pool = nullptr;

}  // namespace

void init_test_eal() {
  {
    std::string prefix = "tbtest_" + std::to_string(getpid());
    std::vector<std::string> args = {"traboule-test", "--no-huge", "--no-shconf", "-m",
                                     "512",           "--no-pci",  "-l",          "0",
                                     "--file-prefix", prefix,      "--log-level", "*:error",
                                     "--no-telemetry"};
    if (const char* extra = std::getenv("TRABOULE_TEST_EAL"); extra != nullptr) {
      std::string s(extra);
      size_t pos = 0;
      while (pos < s.size()) {
        size_t sp = s.find(' ', pos);
        if (sp == std::string::npos) sp = s.size();
        if (sp > pos) args.push_back(s.substr(pos, sp - pos));
        pos = sp + 1;
      }
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      std::fprintf(stderr, "rte_eal_init failed\n");
      std::exit(1);
    }
    g_pool = dp::make_packet_pool("test_pool", 16383, static_cast<int>(rte_socket_id()));
    if (g_pool == nullptr) {
      std::fprintf(stderr, "cannot create the test mbuf pool\n");
      std::exit(1);
    }
  }
}

void cleanup_test_eal() {
  rte_mempool_free(g_pool);
  g_pool = nullptr;
  rte_eal_cleanup();
  // EAL leaves its runtime directory behind even with --no-shconf.
  std::error_code ec;
  std::filesystem::remove_all("/var/run/dpdk/tbtest_" + std::to_string(getpid()), ec);
}

rte_mempool* test_pool() {
  return g_pool;
}
unsigned pool_in_use() {
  return rte_mempool_in_use_count(g_pool);
}

}  // namespace traboule::testing
