# Project helpers in the spirit of absl_cc_library: they remove repetition and never hide a
# dependency. Every helper takes explicit source lists; nothing is globbed.

# Warnings as errors on our own code only (never on generated protobuf sources).
add_library(loyalty_warnings INTERFACE)
# -Wno-restrict: GCC 12 at -O3 reports impossible overlaps inside std::string concatenation
# (GCC bug 105329), a false positive that would fail Release builds of correct code.
target_compile_options(loyalty_warnings INTERFACE -Wall -Wextra -Wpedantic -Werror
                       -Wno-missing-field-initializers $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
add_library(loyalty::warnings ALIAS loyalty_warnings)

# loyalty_cc_library(NAME name SRCS ... DEPS ... [PRIVATE_DEPS ...])
# Creates loyalty_<name> with the alias loyalty::<name>. Includes are rooted at the repo root.
function(loyalty_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(loyalty_${ARG_NAME} STATIC)
  target_sources(loyalty_${ARG_NAME} PRIVATE ${ARG_SRCS})
  target_include_directories(loyalty_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(loyalty_${ARG_NAME} PUBLIC ${ARG_DEPS}
                        PRIVATE loyalty::warnings ${ARG_PRIVATE_DEPS})
  add_library(loyalty::${ARG_NAME} ALIAS loyalty_${ARG_NAME})
endfunction()

# loyalty_cc_test(NAME name SRCS ... DEPS ... [LABELS ...])
# A GoogleTest executable registered with ctest. Tests labelled `db` need the PostgreSQL that
# scripts/test starts (its connection string is in LOYALTY_TEST_DATABASE_URL).
function(loyalty_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME})
  target_sources(${ARG_NAME} PRIVATE ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE loyalty::warnings ${ARG_DEPS} GTest::gmock
                        GTest::gtest_main)
  set(properties TIMEOUT 300)
  if(ARG_LABELS)
    list(APPEND properties LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES ${properties})
endfunction()

# loyalty_embed_migrations(TARGET target SCHEMA_FUNCTION fn NAMESPACE ns FILES ...)
# Generates a .cc that defines `std::span<const loyalty::pg::Migration> ns::fn()` holding the
# numbered SQL files, so a binary carries its own migrations (`<service> --migrate`).
function(loyalty_embed_migrations)
  cmake_parse_arguments(ARG "" "TARGET;FUNCTION;NAMESPACE" "FILES" ${ARGN})
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}_embedded_migrations.cc")
  set(abs_files)
  foreach(f ${ARG_FILES})
    list(APPEND abs_files "${CMAKE_CURRENT_SOURCE_DIR}/${f}")
  endforeach()
  string(REPLACE ";" "|" files_arg "${abs_files}")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} "-DOUT=${out}" "-DFILES=${files_arg}" "-DFUNCTION=${ARG_FUNCTION}"
            "-DNAMESPACE=${ARG_NAMESPACE}" -P "${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake"
    DEPENDS ${abs_files} "${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake"
    COMMENT "Embedding migrations for ${ARG_TARGET}"
    VERBATIM)
  target_sources(${ARG_TARGET} PRIVATE "${out}")
endfunction()

# loyalty_proto_library(NAME name ROOT dir PROTOS rel/a.proto ... [GRPC] [DEPS ...])
# Runs protoc (and the gRPC plugin with GRPC) on files given relative to ROOT. Generated code
# lands in one tree, ${LOYALTY_PROTO_OUT}, so includes read "loyalty/members/v1/x.pb.h".
# (CMake 3.25's protobuf_generate mis-places outputs of files outside the source directory,
# which the googleapis protos from npm are.)
set(LOYALTY_PROTO_OUT "${CMAKE_BINARY_DIR}/proto_gen")
function(loyalty_proto_library)
  cmake_parse_arguments(ARG "GRPC" "NAME;ROOT" "PROTOS;DEPS" ${ARGN})
  file(MAKE_DIRECTORY "${LOYALTY_PROTO_OUT}")
  set(generated)
  foreach(proto ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" base "${proto}")
    set(outs "${LOYALTY_PROTO_OUT}/${base}.pb.cc" "${LOYALTY_PROTO_OUT}/${base}.pb.h")
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outs "${LOYALTY_PROTO_OUT}/${base}.grpc.pb.cc"
           "${LOYALTY_PROTO_OUT}/${base}.grpc.pb.h")
      set(plugin_args "--grpc_out=${LOYALTY_PROTO_OUT}"
          "--plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}")
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc "--cpp_out=${LOYALTY_PROTO_OUT}" ${plugin_args}
              "-I${ARG_ROOT}" "-I${PROJECT_SOURCE_DIR}/proto" "-I${LOYALTY_GOOGLEAPIS_DIR}"
              "-I${Protobuf_INCLUDE_DIR}" "${ARG_ROOT}/${proto}"
      DEPENDS "${ARG_ROOT}/${proto}" protobuf::protoc
      COMMENT "protoc ${proto}")
    list(APPEND generated ${outs})
  endforeach()
  add_library(loyalty_${ARG_NAME} STATIC ${generated})
  target_include_directories(loyalty_${ARG_NAME} PUBLIC "${LOYALTY_PROTO_OUT}")
  target_link_libraries(loyalty_${ARG_NAME} PUBLIC protobuf::libprotobuf PkgConfig::GRPCPP
                        ${ARG_DEPS})
  add_library(loyalty::${ARG_NAME} ALIAS loyalty_${ARG_NAME})
endfunction()
