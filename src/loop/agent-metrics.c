/* The Prometheus exporter: the counters of the status object (agent,
 * status socket, modules, bus topics) as Prometheus text exposition, the
 * reply of the "metrics" command. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-internal.h"

static void metric_name(char *out, size_t size, const char *a, const char *b)
{
	size_t k = (size_t)snprintf(out, size, "scout_%s_%s", a, b);
	for (size_t i = 6; i < k && i < size; i++)
		if (!((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') || out[i] == '_'))
			out[i] = '_';
}

/* Prometheus text exposition of the counters in the status object. */
char *agent_metrics_text(struct agent *a)
{
	json_t *st = agent_status_json(a);
	char *buf = NULL, name[128];
	size_t len = 0, i;
	json_t *m, *v;
	const char *k;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		json_decref(st);
		return NULL;
	}
	fprintf(f, "# HELP scout_info Agent version.\n# TYPE scout_info gauge\nscout_info{version=\"%s\"} 1\n",
		SCOUT_VERSION);
	fprintf(f, "# TYPE scout_uptime_seconds gauge\nscout_uptime_seconds %" PRIu64 "\n", agent_uptime_s(a));
	fprintf(f, "# TYPE scout_rss_bytes gauge\nscout_rss_bytes %" JSON_INTEGER_FORMAT "\n",
		json_integer_value(json_object_get(st, "rss_bytes")));
	json_t *store = json_object_get(st, "store");
	fprintf(f, "# TYPE scout_store_used_bytes gauge\nscout_store_used_bytes %" JSON_INTEGER_FORMAT "\n",
		json_integer_value(json_object_get(store, "used_bytes")));
	fprintf(f, "# TYPE scout_store_map_bytes gauge\nscout_store_map_bytes %" JSON_INTEGER_FORMAT "\n",
		json_integer_value(json_object_get(store, "map_bytes")));
	fprintf(f,
		"# TYPE scout_reloads_total counter\nscout_reloads_total{result=\"ok\"} %u\n"
		"scout_reloads_total{result=\"failed\"} %u\n",
		a->reloads_ok, a->reloads_failed);
	json_t *sock = json_object_get(st, "socket");
	json_object_foreach (sock, k, v) {
		metric_name(name, sizeof(name), "status_socket", k);
		fprintf(f, "# TYPE %s %s\n%s %" JSON_INTEGER_FORMAT "\n", name,
			strcmp(k, "open") && strcmp(k, "queued_bytes") ? "counter" : "gauge", name,
			json_integer_value(v));
	}
	fprintf(f, "# HELP scout_module_up 1 when the module is running.\n# TYPE scout_module_up gauge\n");
	json_array_foreach (json_object_get(st, "modules"), i, m) {
		fprintf(f, "scout_module_up{module=\"%s\",state=\"%s\"} %d\n",
			json_string_value(json_object_get(m, "name")), json_string_value(json_object_get(m, "state")),
			strcmp(json_string_value(json_object_get(m, "state")), "running") == 0);
	}
	json_array_foreach (json_object_get(st, "modules"), i, m) {
		const char *mod = json_string_value(json_object_get(m, "name"));
		json_object_foreach (json_object_get(m, "counters"), k, v) {
			if (!json_is_number(v))
				continue;
			metric_name(name, sizeof(name), mod, k);
			fprintf(f, "%s %.17g\n", name, json_number_value(v));
		}
	}
	static const char *const bus_fields[] = {"published", "delivered", "dropped",
						 "requests",  "replies",   "timed_out"};
	for (size_t b = 0; b < 6; b++) {
		fprintf(f, "# TYPE scout_bus_%s_total counter\n", bus_fields[b]);
		json_object_foreach (json_object_get(st, "bus"), k, v) {
			fprintf(f, "scout_bus_%s_total{topic=\"%s\"} %" JSON_INTEGER_FORMAT "\n", bus_fields[b], k,
				json_integer_value(json_object_get(v, bus_fields[b])));
		}
	}
	fclose(f);
	json_decref(st);
	return buf;
}
