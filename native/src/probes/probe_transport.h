/*
 * The privileged probe helper's hand-over (the Wireshark dumpcap model): the helper alone holds
 * CAP_BPF + CAP_PERFMON, loads and attaches the programs, sends the probe_set with every map,
 * program and link fd over a Unix socket (SCM_RIGHTS) and exits. The engine then owns the fds:
 * the programs detach when it closes them or dies.
 */
#ifndef URING_LAB_PROBES_PROBE_TRANSPORT_H
#define URING_LAB_PROBES_PROBE_TRANSPORT_H

#include <stddef.h>

#include "probe_loader.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROBE_HELPER_NAME "uring-lab-probe-helper"

/* Sends `s` and its fds on a SOCK_SEQPACKET socket. 0 or -errno. */
int probe_set_send(int sock, const struct probe_set *s);
/* Receives a set sent by probe_set_send; the fds are this process's own (close-on-exec). */
int probe_set_recv(int sock, struct probe_set *s);

/* The helper's file capabilities (security.capability) hold CAP_BPF and CAP_PERFMON in the
 * permitted set, with the effective bit: 1, else 0 (with what is missing in `why`). */
int probe_helper_has_caps(const char *path, char *why, size_t size);

/* Runs the helper at `path` with the load options `o`; fills `out` (loaded_by helper). 0, or
 * -errno with the reason in `why`. */
int probe_helper_run(const char *path, const struct probe_load_options *o, struct probe_set *out, char *why,
		     size_t size);

#ifdef __cplusplus
}
#endif
#endif
