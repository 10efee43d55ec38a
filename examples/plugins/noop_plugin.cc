/* The smallest jobnik-worker plugin: completes every task and does nothing else (no result,
 * so no userMetadata write). The worker benchmark (bench/worker-bench.sh) runs it to measure
 * what the worker itself costs per task. Built as examples/plugins/libjobnik_noop_plugin.so.
 */
#include "jobnik/worker_plugin.h"

namespace {

int noop_handle(void* /*state*/, const jobnik_task* /*task*/, jobnik_result* /*result*/) {
  return 0;
}

const jobnik_worker_plugin kPlugin = {JOBNIK_WORKER_PLUGIN_ABI, "noop", nullptr, noop_handle, nullptr};

}  // namespace

extern "C" const jobnik_worker_plugin* jobnik_worker_plugin_entry() {
  return &kPlugin;
}
