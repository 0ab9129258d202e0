// SPDX-License-Identifier: Apache-2.0
// The thin net-snmp half of traboule-snmp: an AgentX subagent serving a Snapshot (model.h) in
// IF-MIB (ifNumber, ifTable, ifXTable) and TRABOULE-MIB, and sending TrapDecisions through the
// master (send_v2trap: snmpd's trap2sink / trapsess destinations get them). Everything here runs
// on one thread: the net-snmp agent library is not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "controlplane/snmp/model.h"

namespace traboule::snmp {

struct AgentOptions {
  std::string agentx_socket = "/var/agentx/master";
  unsigned ping_interval_s = 5;  // how soon a lost master is noticed and asked again
  std::string app_name = "traboule-snmp";
};

class Agent {
 public:
  Agent();
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  // Subagent role, registrations; the master may come later (the library retries every ping).
  bool init(const AgentOptions& options, std::string& error);
  // Replaces every row with the snapshot's (rows are few: a rebuild is cheaper than a diff).
  void publish(const Snapshot& snap);
  void set_stats(const AgentStats& stats);
  void notify(const TrapDecision& d);
  // Answers what the master asks for; returns within 0.25 s (or at a signal).
  void process();
  // A line to the agent's log (stderr, or where net-snmp's -L options send it).
  static void log(bool warning, const std::string& line);

 private:
  struct Tables;
  std::unique_ptr<Tables> t_;
  std::string app_;
};

}  // namespace traboule::snmp
