/* An example jobnik-worker plugin, in C++ with a C interface (include/jobnik/worker_plugin.h): completes each task
 * with {"echo": <its data>, "greeting": <plugin_config>} merged into the task's
 * userMetadata, and fails a task whose data has "fail": true with the reason
 * "asked to fail". Built as examples/plugins/libjobnik_echo_plugin.so. (Any language that
 * can export a C function will do.)
 *
 *   handlers:
 *     - stage_type: echo
 *       plugin: /path/to/libjobnik_echo_plugin.so
 *       plugin_config: hello
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "jobnik/worker_plugin.h"

#ifndef ECHO_PLUGIN_ABI
#define ECHO_PLUGIN_ABI JOBNIK_WORKER_PLUGIN_ABI
#endif

namespace {

thread_local char result_buffer[65536];

void* echo_init(const char* config, const char** error) {
  (void)error;
  return strdup(config ? config : "");
}

int echo_handle(void* state, const jobnik_task* task, jobnik_result* result) {
  if (std::strstr(task->data_json, "\"fail\":true") != nullptr) {
    result->reason = "asked to fail";
    return 1;
  }
  const int n = std::snprintf(result_buffer, sizeof result_buffer, "{\"echo\":%s,\"greeting\":\"%s\",\"attempt\":%d}",
                              task->data_json, static_cast<const char*>(state), task->attempt);
  if (n < 0 || static_cast<std::size_t>(n) >= sizeof result_buffer) {
    result->reason = "the task's data is too large to echo";
    return 1;
  }
  result->result_json = result_buffer;
  return 0;
}

void echo_destroy(void* state) {
  std::free(state);  // NOLINT(cppcoreguidelines-no-malloc): strdup's
}

const jobnik_worker_plugin kPlugin = {ECHO_PLUGIN_ABI, "echo", echo_init, echo_handle, echo_destroy};

}  // namespace

extern "C" const jobnik_worker_plugin* jobnik_worker_plugin_entry() {
  return &kPlugin;
}
