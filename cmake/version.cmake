# The one version string, BGERASE_VERSION: project(VERSION) as it is, or `git describe` of a
# checkout whose nearest tag is that version ("v0.1.0" -> "0.1.0", "0.1.0-3-gabc1234",
# "-dirty" with local changes). Read at configure time; a tarball or a clone without tags gets
# the plain project version. `bgerase --version`, `bgerase info` and the .deb all use it.
set(BGERASE_VERSION ${PROJECT_VERSION})
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
  execute_process(
    COMMAND ${GIT_EXECUTABLE} describe --tags --match "v[0-9]*" --dirty
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE BGERASE_GIT_DESCRIBE RESULT_VARIABLE BGERASE_GIT_RC
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(BGERASE_GIT_RC EQUAL 0)
    string(REGEX REPLACE "^v" "" BGERASE_GIT_DESCRIBE "${BGERASE_GIT_DESCRIBE}")
    if(BGERASE_GIT_DESCRIBE MATCHES "^${PROJECT_VERSION}(-|$)")
      set(BGERASE_VERSION ${BGERASE_GIT_DESCRIBE})
    else()
      message(WARNING "nearest git tag (${BGERASE_GIT_DESCRIBE}) is not project(VERSION "
                      "${PROJECT_VERSION}); using ${PROJECT_VERSION}")
    endif()
  endif()
endif()
message(STATUS "bgerase version ${BGERASE_VERSION}")
configure_file(${PROJECT_SOURCE_DIR}/src/common/version.h.in
               ${PROJECT_BINARY_DIR}/generated/common/version.h @ONLY)
