/* The `mephisto-task` protocol version this package speaks. The server sends its
 * own in task_config.json (`mephisto_task_version`); getTaskConfig() warns when
 * the two differ, as mephisto-task does. */
export const libVersion = "2.0.4";

/* This package's own version (kept equal to package.json by a test). */
export const packageVersion = "0.1.0";
