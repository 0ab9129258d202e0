// SPDX-License-Identifier: Apache-2.0
// traboule-saas: refreshes data/saas/*.json from vendor files an operator downloaded, and shows
// what a data directory holds. No network access: the operator fetches the lists.
#include <boost/program_options.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "controlplane/policy/saas_lists.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using traboule::saas::SaasError;
using traboule::saas::VendorList;

namespace {

constexpr const char* kUsage =
    "usage: traboule-saas refresh [--m365 FILE] [--google FILE [--google-cloud FILE]\n"
    "                              [--google-domains FILE]] [--zoom FILE] [--webex FILE]\n"
    "                              --out DIR [--date YYYY-MM-DD]\n"
    "       traboule-saas show DIR\n";

std::string today_utc() {
  const auto days = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::year_month_day ymd{days};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()));
  return buf;
}

void write_list(const VendorList& v, const fs::path& dir) {
  const fs::path tmp = dir / (v.vendor + ".json.tmp"), out = dir / (v.vendor + ".json");
  {
    std::ofstream f(tmp);
    if (!f) throw SaasError(tmp.string() + ": cannot write");
    f << traboule::saas::to_json(v).dump(2) << "\n";
    if (!f) throw SaasError(tmp.string() + ": write failed");
  }
  fs::rename(tmp, out);  // readers never see half a file
  size_t d = 0, p = 0;
  for (auto& e : v.endpoints) d += e.domains.size(), p += e.prefixes.size();
  std::cout << out.string() << ": " << v.endpoints.size() << " endpoint sets, " << d << " domains, "
            << p << " prefixes";
  if (v.widened) std::cout << " (" << v.widened << " placeholder URLs widened to wildcards)";
  std::cout << "\n";
}

int refresh(const std::vector<std::string>& args) {
  std::string m365, google, google_cloud, google_domains, zoom, webex, out, date;
  po::options_description opts("refresh options");
  opts.add_options()("m365", po::value(&m365), "Microsoft 365 endpoints web service JSON")(
      "google", po::value(&google), "Google goog.json")(
      "google-cloud", po::value(&google_cloud), "Google cloud.json (ranges removed from goog)")(
      "google-domains", po::value(&google_domains), "Google Workspace domains, one per line")(
      "zoom", po::value(&zoom), "Zoom domains/CIDRs, one per line")(
      "webex", po::value(&webex), "Webex domains/CIDRs, one per line")(
      "out", po::value(&out)->required(), "data directory to write")(
      "date", po::value(&date), "retrieval date to record (default: today, UTC)");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  po::notify(vm);
  if (m365.empty() && google.empty() && zoom.empty() && webex.empty())
    throw SaasError("refresh: give at least one of --m365, --google, --zoom, --webex");
  if (google.empty() && (!google_cloud.empty() || !google_domains.empty()))
    throw SaasError("refresh: --google-cloud and --google-domains need --google");
  if (date.empty()) date = today_utc();
  if (date.size() != 10 || date[4] != '-' || date[7] != '-')
    throw SaasError("refresh: --date: not YYYY-MM-DD: \"" + date + "\"");
  if (!fs::is_directory(out)) throw SaasError("refresh: --out: not a directory: \"" + out + "\"");

  // Everything is read and validated before anything is written.
  std::vector<VendorList> lists;
  auto stamp = [&](VendorList v, const std::string& file) {
    v.source.retrieved = date;
    v.source.how = "refreshed by traboule-saas from " + fs::path(file).filename().string();
    lists.push_back(std::move(v));
  };
  if (!m365.empty()) stamp(traboule::saas::read_m365(m365), m365);
  if (!google.empty())
    stamp(traboule::saas::read_google(google, google_cloud, google_domains), google);
  if (!zoom.empty()) {
    VendorList v = traboule::saas::read_plain(zoom, "zoom", "zoom");
    v.source.url = "https://assets.zoom.us/docs/ipranges/Zoom.txt";
    stamp(std::move(v), zoom);
  }
  if (!webex.empty()) {
    VendorList v = traboule::saas::read_plain(webex, "webex", "webex");
    v.source.url = "https://help.webex.com/article/WBX000028782";
    stamp(std::move(v), webex);
  }
  for (const VendorList& v : lists) write_list(v, out);
  return 0;
}

int show(const std::string& dir) {
  if (!fs::is_directory(dir)) throw SaasError("show: not a directory: \"" + dir + "\"");
  std::set<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.insert(e.path());
  if (files.empty()) throw SaasError("show: no *.json in \"" + dir + "\"");
  std::printf("%-18s %-10s %5s %8s %6s %6s  %s\n", "vendor", "retrieved", "sets", "domains", "ipv4",
              "ipv6", "source");
  for (const fs::path& f : files) {
    const VendorList v = traboule::saas::read_normalised(f.string());
    size_t d = 0, v4 = 0, v6 = 0;
    for (auto& e : v.endpoints) {
      d += e.domains.size();
      for (auto& p : e.prefixes) (p.find(':') == std::string::npos ? v4 : v6)++;
    }
    std::printf("%-18s %-10s %5zu %8zu %6zu %6zu  %s\n", v.vendor.c_str(),
                v.source.retrieved.c_str(), v.endpoints.size(), d, v4, v6, v.source.url.c_str());
    std::map<std::string, size_t> per_app;
    for (auto& e : v.endpoints)
      per_app[e.app + (e.category.empty() ? "" : " (" + e.category + ")")] +=
          e.domains.size() + e.prefixes.size();
    for (auto& [app, n] : per_app) std::printf("    %-32s %5zu entries\n", app.c_str(), n);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
      std::cout << kUsage;
      return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    if (cmd == "refresh") return refresh(args);
    if (cmd == "show") {
      if (args.size() != 1) throw SaasError("show: expected one directory");
      return show(args[0]);
    }
    throw SaasError("unknown command \"" + cmd + "\" (refresh, show)");
  } catch (const SaasError& e) {
    std::cerr << "traboule-saas: " << e.what() << "\n";
    return 1;
  } catch (const po::error& e) {
    std::cerr << "traboule-saas: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "traboule-saas: " << e.what() << "\n";
    return 1;
  }
}
