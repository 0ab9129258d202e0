// SPDX-License-Identifier: Apache-2.0
// traboulectl: the operator's CLI for trabouled (docs/traboulectl.md).
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "tools/traboulectl/commands.h"

int main(int argc, char** argv) {
  using namespace traboule::ctl;
  std::vector<std::string> args(argv + 1, argv + argc);
  Environment env;
  if (const char* s = std::getenv("TRABOULE_SERVER")) env.server = s;
  if (const char* t = std::getenv("TRABOULE_TOKEN")) env.token = t;
  if (const char* c = std::getenv("TRABOULE_CA")) env.ca = c;
  CliDeps deps;
  deps.make_transport = make_https_transport;
  deps.sleep = [](double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  };
  const int code = run_cli(args, env, std::cout, std::cerr, deps);
  std::cout.flush();
  return code;
}
