/* The agent: owns the uv loop and everything on it (store, bus, module host,
 * status socket, signals, systemd notification) and runs the lifecycle:
 * start, reload on SIGHUP, graceful stop on SIGTERM/SIGINT. */
#pragma once

#include <stdio.h>

#include "scout-version.h" /* SCOUT_VERSION: meson's project() version */
#define SCOUT_EMBEDDED_NAME "<embedded default>"

/* The configuration scoutd runs on without -c. */
extern const char scout_default_config[];

struct scout_schema;
/* The schema of every section: [agent] and one per registered module. */
int scout_agent_schema(const struct scout_schema **ret_schema);

/* Prints the reference of every section and key as Markdown (the source of
 * docs/config.md). */
void scout_agent_config_reference(FILE *out);

/* Validates a config file (NULL: the embedded one); prints each problem
 * as FILE:LINE: message to out. Returns 0 when good, 1 otherwise. */
int scout_agent_check(const char *path, FILE *out);

/* Runs until stopped; returns the process exit code. */
int scout_agent_run(const char *path);
