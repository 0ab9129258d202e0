# SPDX-License-Identifier: Apache-2.0
# The Debian package, built by CPack from this build tree: `cpack -G DEB` in the build
# directory (docs/packaging.md says why not debhelper). Included last by the top level.
# TRABOULE_PACKAGE_VERSION_SUFFIX and TRABOULE_PACKAGE_CONTACT: cache variables set in
# packaging/CMakeLists.txt (the changelog needs them first).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME traboule)
set(CPACK_PACKAGE_VENDOR "The Traboule authors")
set(CPACK_PACKAGE_CONTACT "${TRABOULE_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}${TRABOULE_PACKAGE_VERSION_SUFFIX}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SD-WAN edge and hub appliance on DPDK")
# CPack indents each line itself and writes an empty line as " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Traboule steers each flow of a site over whichever uplink (fiber, DSL,
4G/5G, satellite) meets its SLA class, measured with STAMP probes; traffic
for the data centre goes through an overlay to the hub, internet traffic
breaks out with source NAT. Applications are recognised with nDPI; operators
push versioned JSON policies over an authenticated HTTPS API.

This package holds the daemon (trabouled, one systemd instance per config in
/etc/traboule), the operators' CLI (traboulectl), the SNMP AgentX subagent
(traboule-snmp, with TRABOULE-MIB) for Debian's snmpd, the lab link emulator
(traboule-wanem) and the SaaS endpoint lists with their refresh tool.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION "${CPACK_PACKAGE_VERSION}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://traboule.example.org/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dlopen'd by EAL, so dpkg-shlibdeps cannot see them: the mempool driver every port needs and
# the vdev PMDs the configs name (docs/config.md) and net_tap for the kernel twins. openssl: postinst makes the API certificate.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "librte-mempool-ring23 (>= 22.11), librte-net-af-packet23 (>= 22.11), librte-net-af-xdp23 (>= 22.11), librte-net-null23 (>= 22.11), librte-net-pcap23 (>= 22.11), librte-net-ring23 (>= 22.11), librte-net-tap23 (>= 22.11), openssl")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "dpdk")
# traboule-snmp serves under Debian's snmpd (docs/snmp.md); the web view draws with Chart.js.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "snmpd, libjs-chart.js")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/deb/conffiles;${PROJECT_SOURCE_DIR}/packaging/deb/postinst;${PROJECT_SOURCE_DIR}/packaging/deb/prerm;${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# Only what docs/packaging.md lists: other install rules of the tree (traboule-bench) are
# dropped from the staging tree before it is packed.
set(CPACK_PRE_BUILD_SCRIPTS "${PROJECT_SOURCE_DIR}/packaging/cpack_prune.cmake")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
include(CPack)
