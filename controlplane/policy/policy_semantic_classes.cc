// SPDX-License-Identifier: Apache-2.0
// The classes rules refer to: SLA classes (what a path must do) and QoS classes (what a flow
// gets).
#include <cmath>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

void Checker::check_sla_classes() {
  const json* arr = section("sla_classes");
  if (!arr) {
    sla_.complete = !find(doc_, "sla_classes");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& c = (*arr)[i];
    std::string p = at("/sla_classes", i);
    auto name = register_name(sla_, c, p, i, "SLA class");
    if (!ok(p) || !name) continue;
    dp::SlaClass s;
    s.name = *name;
    auto lat = uint_at(c, "max_latency_ms");
    auto jit = uint_at(c, "max_jitter_ms");
    const json* loss = find(c, "max_loss_percent");
    if (!lat && !jit && !loss) {
      err(p, shown(c), "sets no bound: give max_latency_ms, max_jitter_ms or max_loss_percent");
      continue;
    }
    s.max_latency_us = static_cast<uint32_t>(lat.value_or(0) * 1000);
    s.max_jitter_us = static_cast<uint32_t>(jit.value_or(0) * 1000);
    s.max_loss_ppm = 1'000'000;
    if (loss) {
      double pct = loss->get<double>();
      double ppm = pct * 10'000.0;
      if (std::fabs(ppm - std::round(ppm)) > 1e-6) {
        err(p + "/max_loss_percent", shown(*loss), "has more precision than 0.0001 %");
        continue;
      }
      s.max_loss_ppm = static_cast<uint32_t>(std::llround(ppm));
    }
    s.hold_ms = static_cast<uint32_t>(uint_at(c, "hold_s").value_or(10) * 1000);
    s.margin_percent = static_cast<uint32_t>(uint_at(c, "margin_percent").value_or(20));
    // A probe slower than the timeout counts as lost: the SLA must fit inside it.
    if (lat && probes_ok_ && *lat * 2 > built_.probes.timeout_ms) {
      err(p + "/max_latency_ms", std::to_string(*lat),
          "allows a round trip (2 × " + std::to_string(*lat) +
              " ms) longer than probes.timeout_ms (" + std::to_string(built_.probes.timeout_ms) +
              " ms): such a path would be measured as lossy, not slow");
      continue;
    }
    sla_index_[*name] = built_.snapshot->sla_classes.size();
    built_.snapshot->sla_classes.push_back(s);
  }
}

void Checker::check_qos_classes() {
  const json* arr = section("qos_classes");
  if (!arr) {
    qos_.complete = !find(doc_, "qos_classes");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& c = (*arr)[i];
    std::string p = at("/qos_classes", i);
    auto name = register_name(qos_, c, p, i, "QoS class");
    if (!ok(p) || !name) continue;
    dp::QosClass q;
    q.name = *name;
    q.priority = static_cast<uint8_t>(uint_at(c, "priority").value_or(0));
    q.weight = static_cast<uint16_t>(uint_at(c, "weight").value_or(1));
    auto lo = uint_at(c, "min_rate_kbps");
    auto hi = uint_at(c, "max_rate_kbps");
    if (lo && hi && *lo > *hi) {
      err(p + "/min_rate_kbps", std::to_string(*lo),
          "is above max_rate_kbps (" + std::to_string(*hi) + "): the guarantee cannot be given");
      continue;
    }
    q.min_rate_bps = lo.value_or(0) * 1000;
    q.max_rate_bps = hi.value_or(0) * 1000;
    q.ingress_max_bps = uint_at(c, "ingress_max_kbps").value_or(0) * 1000;
    if (const json* d = find(c, "dscp")) q.dscp = dscp_value(*d).value_or(0);
    q.critical = bool_at(c, "critical", false);
    qos_index_[*name] = built_.snapshot->qos_classes.size();
    built_.snapshot->qos_classes.push_back(q);
  }
}

}  // namespace traboule::cp::detail::semantic
