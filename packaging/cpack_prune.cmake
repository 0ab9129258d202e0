# SPDX-License-Identifier: Apache-2.0
# CPACK_PRE_BUILD_SCRIPTS: runs after `cmake --install` into CPack's staging tree, before the
# .deb is made. Drops installed files that are not part of the appliance package.
foreach(_drop usr/bin/traboule-bench)
  file(GLOB_RECURSE _found LIST_DIRECTORIES false "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/${_drop}"
       "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/${_drop}")
  foreach(_f IN LISTS _found)
    message(STATUS "traboule: not packaged: ${_f}")
    file(REMOVE "${_f}")
  endforeach()
endforeach()
