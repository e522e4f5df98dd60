# tm_add_plugin(NAME ROLE SOURCES src... [LIBS lib...])
#
# Builds plugins/<dir> into ROLE-NAME.so in the build tree's plugin directory
# and installs it beside the other built-in plugins. Plugins include only
# include/textmill/plugin.h and link nothing of the core.
function(tm_add_plugin name role)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  set(target "${role}-${name}")
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "${role}-${name}"
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY "${TM_PLUGIN_OUTPUT_DIR}")
  target_include_directories(${target} PRIVATE "${PROJECT_SOURCE_DIR}/include")
  target_link_libraries(${target} PRIVATE ${P_LIBS})
  target_link_options(${target} PRIVATE "-Wl,--no-undefined")
  install(TARGETS ${target} LIBRARY DESTINATION "${TM_PLUGIN_INSTALL_DIR}")
endfunction()
