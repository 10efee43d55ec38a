/* jobnik-worker plugins: task handlers in a shared library, loaded with dlopen(3).
 *
 * A plugin exports one function, jobnik_worker_plugin_entry(), returning a description of itself
 * whose abi_version must equal JOBNIK_WORKER_PLUGIN_ABI as the worker was built: a plugin
 * of another version is rejected when the worker starts. The worker calls handle() for
 * every claimed task of the handler's stage type, from up to `concurrency` threads at once
 * (handle must be thread-safe), in the worker's own process: a plugin that crashes takes
 * the worker down with it, and its running tasks are then failed by the server's stale-task
 * sweeper. There is no timeout for a plugin: it must return.
 *
 * Versions: 1 (this header).
 */
#ifndef JOBNIK_WORKER_PLUGIN_H
#define JOBNIK_WORKER_PLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

#define JOBNIK_WORKER_PLUGIN_ABI 1

/* A claimed task. Every string is NUL-terminated and lives until handle() returns. */
typedef struct jobnik_task {
  const char* id;
  const char* stage_id;
  const char* job_id; /* "" when unknown */
  const char* stage_type;
  const char* json;      /* the whole task as the server sent it */
  const char* data_json; /* its "data" object */
  int attempt;           /* this attempt's number, from 1 */
  int max_attempts;
  const char* traceparent; /* W3C trace context, "" when none */
} jobnik_task;

/* What handle() fills in. Strings set here must stay valid until handle() returns to the
 * worker and the worker has copied them (e.g. thread-local or state-owned buffers). */
typedef struct jobnik_result {
  const char* reason;      /* a failure's reason (NULL: none) */
  const char* result_json; /* a JSON object merged into the task's userMetadata (NULL: none) */
} jobnik_result;

typedef struct jobnik_worker_plugin {
  int abi_version; /* JOBNIK_WORKER_PLUGIN_ABI */
  const char* name;
  /* Called once at start with the handler's plugin_config ("" when none). Returns the
   * plugin's state passed to handle() and destroy(), or NULL with *error set (a static or
   * state-owned message) to refuse to start. May be NULL. */
  void* (*init)(const char* config, const char** error);
  /* Handles one task: 0 completes it, anything else fails it (with result->reason). */
  int (*handle)(void* state, const jobnik_task* task, jobnik_result* result);
  /* Called once when the worker stops. May be NULL. */
  void (*destroy)(void* state);
} jobnik_worker_plugin;

/* The one symbol a plugin exports. */
typedef const jobnik_worker_plugin* (*jobnik_worker_plugin_fn)(void);
#define JOBNIK_WORKER_PLUGIN_SYMBOL "jobnik_worker_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* JOBNIK_WORKER_PLUGIN_H */
