/* Runs a shell command (a real peer: curl, openssl s_client) on a thread
 * while the test's loop keeps serving it. Test code only. */
#pragma once

#include <uv.h>

/* The command's exit status, or -1 when it did not exit normally. */
int run_cmd_on_loop(uv_loop_t *loop, const char *cmd);
