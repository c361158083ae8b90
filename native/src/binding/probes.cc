// probesAttach/probesRead/probesDetach/probesCheck: the eBPF probes (src/probes) for JS.
// One probe set per process: attached in-process when this process may load tracing programs
// (root, or CAP_BPF+CAP_PERFMON), else through the privileged probe helper when it is found
// and has its file capabilities, else not at all with the reason and the fix per probe.
#include "binding/marshal.h"
#include "binding/exports.h"
#include "core/engine.h"

extern "C" {
#include "probes/kernel_histogram.h"
#include "probes/probe_loader.h"
#include "probes/probe_reader.h"
#include "probes/probe_sampling.h"
#include "probes/probe_transport.h"
#include "probes/tcp_events.h"
}

#include <dlfcn.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

namespace {

struct AttachedProbes {
	probe_set set;
	probe_reader *reader = nullptr;
	bool attached = false;
	std::string channel_note;
	// The per-request probes' time sampling: duty 1 (always attached, no thread) or the window
	// thread; per_request: whether any per-request program is attached at all.
	double duty = 1;
	probe_sampling *sampling = nullptr;
	bool per_request = false;
	uint64_t last_read_ns = 0, last_observed_ns = 0, last_windows = 0, last_attach_errors = 0, last_switch_ns = 0, last_observed_requests = 0;
};

AttachedProbes g_probes;
std::unique_ptr<kernel_frame> g_frame;
// The profile's stacks as JS arrays of hex IPs, made once per stack id for the reader's life
// (a stack id names one stack until the map is freed): a frame's ~20 samples × ~30 frames
// were ~600 strings made and named again every frame. The arrays are frozen, so a consumer
// may key what it derives from them (the engine's folded names) on the array itself.
// Never destroyed: references must not outlive their env at exit (Detach clears it while live).
auto &g_stack_arrays = *new std::unordered_map<int, Napi::Reference<Napi::Array>>();

// Bumped by every detach: an async attach that started before it must not install its set.
uint64_t g_detach_generation = 0;

void Detach()
{
	g_detach_generation++;
	// The window thread first: it holds the links it opened and uses the set's program fds.
	probe_sampling_stop(g_probes.sampling);
	g_probes.sampling = nullptr;
	g_probes.per_request = false;
	probe_reader_free(g_probes.reader);
	g_probes.reader = nullptr;
	g_stack_arrays.clear();
	if (g_probes.attached)
		probe_set_close(&g_probes.set);
	g_probes.attached = false;
	g_probes.channel_note.clear();
}

int ProbeId(const std::string &name)
{
	for (int i = 0; i < PROBE_COUNT; i++)
		if (name == probe_names[i])
			return i;
	return -1;
}

std::string AllProbeNames()
{
	std::string s;
	for (int i = 0; i < PROBE_COUNT; i++)
		s += std::string(i ? ", " : "") + "'" + probe_names[i] + "'";
	return s;
}

// The helper: URING_LAB_PROBE_HELPER; else, in a package (the addon under
// resources/app.asar.unpacked/), resources/uring-lab-probe-helper (builder.yml's
// extraResources, setcap'd by the deb); else next to this addon (build/Release/).
std::string HelperPath()
{
	const char *env = getenv("URING_LAB_PROBE_HELPER");
	if (env && *env)
		return env;
	Dl_info info;
	if (dladdr(reinterpret_cast<void *>(&HelperPath), &info) && info.dli_fname) {
		std::string p = info.dli_fname;
		size_t unpacked = p.find("/app.asar.unpacked/");
		if (unpacked != std::string::npos)
			return p.substr(0, unpacked + 1) + PROBE_HELPER_NAME;
		size_t slash = p.rfind('/');
		if (slash != std::string::npos)
			return p.substr(0, slash + 1) + PROBE_HELPER_NAME;
	}
	return PROBE_HELPER_NAME;
}

// Loads `mask` for `tgid` the way this process can; never throws.
void LoadProbes(const probe_load_options &o, probe_set *out)
{
	if (probe_process_privileged()) {
		probe_load(&o, out);
		return;
	}
	std::string helper = HelperPath();
	const std::string fix_helper = "grant the probe helper its capabilities: sudo setcap cap_bpf,cap_perfmon+ep " + helper +
				       " (add cap_sys_admin for run-time overhead stats), or run the lab as root";
	char why[PROBE_TEXT] = "";
	memset(out, 0, sizeof(*out));
	out->stats_fd = -1;
	if (access(helper.c_str(), X_OK)) {
		std::string reason = "no CAP_BPF/CAP_PERFMON (and no probe helper at " + helper + ")";
		probe_set_unprivileged(out, o.mask, reason.c_str(),
				       ("build or install the probe helper (npm run build:native builds it next to the addon; URING_LAB_PROBE_HELPER names another), then " +
					fix_helper).c_str());
		return;
	}
	if (!probe_helper_has_caps(helper.c_str(), why, sizeof(why))) {
		std::string reason = std::string("no CAP_BPF/CAP_PERFMON: ") + why;
		probe_set_unprivileged(out, o.mask, reason.c_str(), fix_helper.c_str());
		return;
	}
	if (probe_helper_run(helper.c_str(), &o, out, why, sizeof(why))) {
		// It has its capabilities: what failed is in its own words, not a missing setcap.
		std::string reason = std::string("probe helper failed: ") + why;
		probe_set_unprivileged(out, o.mask, reason.c_str(),
				       ("run the lab as root to load the probes in-process, or fix what " + helper + " reports").c_str());
	}
}

Napi::Value NullOr(Napi::Env env, const char *s)
{
	return s && *s ? Napi::String::New(env, s) : env.Null();
}

uint64_t MonotonicNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// The per-request probes attached for one window per period (probe_sampling.h). Where this
// process may not attach them again from their program fds, they are not attached at all:
// attached all the time they would cost the run what the duty is there to avoid.
void StartSampling(double duty)
{
	char why[PROBE_TEXT] = "";
	g_probes.sampling = probe_sampling_start(&g_probes.set, duty, engine_requests_completed, why, sizeof(why));
	if (g_probes.sampling) {
		for (int id : { PROBE_URING_LATENCY, PROBE_SOFTIRQ }) {
			probe_status &st = g_probes.set.status[id];
			if (!st.attached)
				continue;
			char note[PROBE_TEXT];
			snprintf(note, sizeof(note), "time-sampled: attached %.3g %% of the time, one window per 0.1–2 s period at a random offset (probes.perRequestDuty %g)%s%s",
				 duty * 100, duty, st.reason[0] ? "; " : "", st.reason);
			snprintf(st.reason, sizeof(st.reason), "%s", note);
		}
		return;
	}
	for (int i = 0; i < g_probes.set.nfds; i++) {
		probe_fd &f = g_probes.set.fds[i];
		if (f.kind == PROBE_FD_LINK && (f.probe == PROBE_URING_LATENCY || f.probe == PROBE_SOFTIRQ) && f.fd >= 0) {
			close(f.fd);
			f.fd = -1;
		}
	}
	for (int id : { PROBE_URING_LATENCY, PROBE_SOFTIRQ }) {
		probe_status &st = g_probes.set.status[id];
		if (!st.attached)
			continue;
		st.attached = 0;
		snprintf(st.reason, sizeof(st.reason), "time-sampled attachment (probes.perRequestDuty %g) refused: %s", duty, why);
		snprintf(st.fix, sizeof(st.fix), "run the lab as root, or set probes.perRequestDuty=1 to keep the per-request probes attached all the time (over 1 µs of CPU per request)");
	}
	g_probes.per_request = false;
}

Napi::Array Statuses(Napi::Env env, const probe_set &s, const std::string &channel_note)
{
	Napi::Array out = Napi::Array::New(env);
	uint32_t n = 0;
	for (int i = 0; i < PROBE_COUNT; i++) {
		const probe_status &st = s.status[i];
		if (!st.requested)
			continue;
		Napi::Object o = Napi::Object::New(env);
		o.Set("name", probe_names[i]);
		o.Set("attached", st.attached != 0);
		o.Set("variant", NullOr(env, st.attached ? st.variant : nullptr));
		std::string reason = st.reason;
		if (i == PROBE_TCP_EVENTS && st.attached && !channel_note.empty())
			reason = reason.empty() ? channel_note : reason + "; " + channel_note;
		o.Set("reason", NullOr(env, reason.c_str()));
		o.Set("fix", NullOr(env, st.attached ? nullptr : st.fix));
		o.Set("loadedBy", !st.attached ? env.Null()
				  : s.loaded_by == PROBE_LOADED_HELPER ? Napi::String::New(env, "helper")
								       : Napi::String::New(env, "in-process"));
		out.Set(n++, o);
	}
	return out;
}

// What probesAttach and probesAttachAsync are asked for, checked on the JS thread.
struct AttachRequest {
	probe_load_options o;
	double duty;
};

AttachRequest ParseAttach(const Napi::CallbackInfo &info, const std::string &fn)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsObject())
		throw Napi::TypeError::New(env, fn + ": options must be an object { tgid, probes? }");
	Napi::Object opts = info[0].As<Napi::Object>();
	Napi::Value tgidv = opts.Get("tgid");
	double tgid = tgidv.IsNumber() ? tgidv.As<Napi::Number>().DoubleValue() : -1;
	if (!(tgid >= 1 && tgid <= 0x3fffffff && tgid == (double)(int)tgid))
		throw Napi::TypeError::New(env, fn + ": options.tgid must be a process id (a positive integer), e.g. process.pid");
	unsigned mask = PROBE_ALL_MASK;
	Napi::Value pv = opts.Get("probes");
	if (!pv.IsUndefined()) {
		if (!pv.IsArray())
			throw Napi::TypeError::New(env, fn + ": options.probes must be an array of probe names (" + AllProbeNames() + ")");
		Napi::Array a = pv.As<Napi::Array>();
		mask = 0;
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Value v = a.Get(i);
			int id = v.IsString() ? ProbeId(v.As<Napi::String>().Utf8Value()) : -1;
			if (id < 0)
				throw Napi::TypeError::New(env, fn + ": options.probes[" + std::to_string(i) +
									"] must be one of " + AllProbeNames());
			mask |= 1u << id;
		}
	}
	bool force_perfbuf = false;
	Napi::Value ch = opts.Get("eventChannel");
	if (!ch.IsUndefined()) {
		std::string c = ch.IsString() ? ch.As<Napi::String>().Utf8Value() : "";
		if (c != "ringbuf" && c != "perfbuf")
			throw Napi::TypeError::New(env, fn + ": options.eventChannel must be 'ringbuf' or 'perfbuf'");
		force_perfbuf = c == "perfbuf";
	}
	bool syscall_enters = false;
	Napi::Value se = opts.Get("syscallEnters");
	if (!se.IsUndefined()) {
		if (!se.IsBoolean())
			throw Napi::TypeError::New(env, fn + ": options.syscallEnters must be true or false");
		syscall_enters = se.As<Napi::Boolean>().Value();
	}

	unsigned profile_hz = PROBE_DEFAULT_PROFILE_HZ;
	Napi::Value hzv = opts.Get("profileHz");
	if (!hzv.IsUndefined()) {
		double hz = hzv.IsNumber() ? hzv.As<Napi::Number>().DoubleValue() : -1;
		if (!(hz >= 0 && hz <= PROBE_MAX_PROFILE_HZ && hz == (double)(int)hz))
			throw Napi::TypeError::New(env, fn + ": options.profileHz must be an integer from 0 (no profile probe) to " +
								std::to_string(PROBE_MAX_PROFILE_HZ) + ", e.g. 49");
		profile_hz = (unsigned)hz;
	}
	// 0 Hz: no profile probe at all (it is left out, as if not named).
	if (!profile_hz)
		mask &= ~(1u << PROBE_PROFILE);
	unsigned offcpu_min_us = PROBE_DEFAULT_OFFCPU_MIN_US;
	Napi::Value omv = opts.Get("offCpuMinUs");
	if (!omv.IsUndefined()) {
		double us = omv.IsNumber() ? omv.As<Napi::Number>().DoubleValue() : -1;
		if (!(us >= 0 && us <= 60e6 && us == (double)(long long)us))
			throw Napi::TypeError::New(env, fn + ": options.offCpuMinUs must be an integer number of microseconds from 0 to 60000000, e.g. 1000");
		offcpu_min_us = (unsigned)us;
	}

	double duty = 1;
	Napi::Value dv = opts.Get("perRequestDuty");
	if (!dv.IsUndefined()) {
		duty = dv.IsNumber() ? dv.As<Napi::Number>().DoubleValue() : -1;
		if (!(duty == 1 || (duty >= PROBE_SAMPLING_MIN_DUTY && duty < 1)))
			throw Napi::TypeError::New(env, fn + ": options.perRequestDuty must be a fraction from 0.001 "
							"(PROBE_SAMPLING_MIN_DUTY) to 1 (1: always attached), e.g. 0.002");
	}

	return { { (int)tgid, mask, force_perfbuf, syscall_enters, offcpu_min_us, profile_hz }, duty };
}

// Makes g_probes.set (just loaded) the attached set: the time sampling, the reader; its statuses.
Napi::Array Install(Napi::Env env, const AttachRequest &r)
{
	const double duty = r.duty;
	const unsigned offcpu_min_us = r.o.offcpu_min_us, profile_hz = r.o.profile_hz;
	g_probes.attached = true;
	g_probes.duty = duty;
	g_probes.per_request = g_probes.set.status[PROBE_URING_LATENCY].attached || g_probes.set.status[PROBE_SOFTIRQ].attached;
	if (g_probes.per_request && duty < 1)
		StartSampling(duty);
	bool any = false;
	for (int i = 0; i < PROBE_COUNT; i++)
		any = any || g_probes.set.status[i].attached;
	if (any) {
		if (!g_frame)
			g_frame.reset(new kernel_frame);
		g_probes.reader = probe_reader_new(&g_probes.set);
		if (!g_probes.reader) {
			std::string err = std::string("probe reader: ") + strerror(errno);
			Detach();
			throw Napi::Error::New(env, err);
		}
		probe_reader_set_options(g_probes.reader, offcpu_min_us, profile_hz);
		// The reader's first read covers the time since now, and so does the observed share's.
		g_probes.last_read_ns = MonotonicNs();
		g_probes.last_observed_ns = g_probes.last_windows = g_probes.last_attach_errors = g_probes.last_switch_ns = g_probes.last_observed_requests = 0;
		const char *ce = probe_reader_channel_error(g_probes.reader);
		if (ce)
			g_probes.channel_note = std::string("events unavailable: ") + ce + " (counters still work)";
	}
	return Statuses(env, g_probes.set, g_probes.channel_note);
}

// An attach on libuv's pool in flight (probesAttachAsync): the probe calls that would race
// it are refused until it settles.
bool g_attaching = false;

void RefuseWhileAttaching(Napi::Env env, const char *fn)
{
	if (g_attaching)
		throw Napi::Error::New(env, std::string(fn) + ": the probes are being attached (probesAttachAsync in progress); await it first");
}

Napi::Value ProbesAttach(const Napi::CallbackInfo &info)
{
	RefuseWhileAttaching(info.Env(), "probesAttach");
	AttachRequest r = ParseAttach(info, "probesAttach");
	Detach();
	LoadProbes(r.o, &g_probes.set);
	return Install(info.Env(), r);
}

// probesAttachAsync: the options are checked and the old set detached on the JS thread; the
// programs are loaded and verified on libuv's pool (~0.2 s for the nine here), so that the JS
// thread can do other start-up work meanwhile (the engine reads its stack names); the set is
// installed back on the JS thread. A detach meanwhile (probesDetach, the environment going)
// wins: the loaded set is closed and the promise rejects.
class AttachWork : public Napi::AsyncWorker {
public:
	AttachWork(Napi::Env env, const AttachRequest &r)
		: Napi::AsyncWorker(env, "uring_lab.probesAttachAsync"), deferred_(Napi::Promise::Deferred::New(env)), r_(r),
		  generation_(g_detach_generation)
	{
		std::memset(&set_, 0, sizeof(set_));
		set_.stats_fd = -1;
	}

	Napi::Promise Promise() const { return deferred_.Promise(); }

protected:
	void Execute() override
	{
		executed_ = true;
		LoadProbes(r_.o, &set_);
	}

	void OnOK() override
	{
		g_attaching = false;
		Napi::Env env = Env();
		if (generation_ != g_detach_generation) {
			probe_set_close(&set_);
			deferred_.Reject(Napi::Error::New(env, "probesAttachAsync: the probes were detached while they were being attached").Value());
			return;
		}
		g_probes.set = set_;
		try {
			deferred_.Resolve(Install(env, r_));
		} catch (const Napi::Error &e) {
			deferred_.Reject(e.Value());
		}
	}

	void OnError(const Napi::Error &e) override
	{
		g_attaching = false;
		deferred_.Reject(e.Value());
	}

	// Cancelled or torn down without OnOK (the environment going): nothing may stay loaded.
	void Destroy() override
	{
		if (g_attaching) {
			g_attaching = false;
			if (executed_)
				probe_set_close(&set_);
		}
		Napi::AsyncWorker::Destroy();
	}

private:
	Napi::Promise::Deferred deferred_;
	AttachRequest r_;
	uint64_t generation_;
	probe_set set_;
	bool executed_ = false;
};

Napi::Value ProbesAttachAsync(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	RefuseWhileAttaching(env, "probesAttachAsync");
	AttachRequest r = ParseAttach(info, "probesAttachAsync");
	Detach();
	auto *work = new AttachWork(env, r);
	Napi::Promise promise = work->Promise();
	g_attaching = true;
	work->Queue();
	return promise;
}

Napi::Number Num(Napi::Env env, uint64_t v)
{
	return Napi::Number::New(env, (double)v);
}

// Instruction pointers as lowercase hex without 0x (kernel addresses exceed 2^53), leaf first.
Napi::Array Ips(Napi::Env env, const uint64_t *ips, int n)
{
	Napi::Array out = Napi::Array::New(env, n > 0 ? (size_t)n : 0);
	char buf[24];
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%" PRIx64, ips[i]);
		out.Set((uint32_t)i, Napi::String::New(env, buf));
	}
	return out;
}

// A profile stack by id: the cached frozen array, made on first sight; a fresh one without an id.
Napi::Array StackIps(Napi::Env env, int id, const uint64_t *ips, int n)
{
	if (id < 0)
		return Ips(env, ips, n);
	auto it = g_stack_arrays.find(id);
	if (it != g_stack_arrays.end())
		return it->second.Value();
	Napi::Array a = Ips(env, ips, n);
	env.Global().Get("Object").As<Napi::Object>().Get("freeze").As<Napi::Function>().Call({ a });
	g_stack_arrays.emplace(id, Napi::Persistent(a));
	return a;
}

Napi::Array CpuList(Napi::Env env, uint64_t mask)
{
	Napi::Array out = Napi::Array::New(env);
	uint32_t n = 0;
	for (int c = 0; c < 64; c++)
		if ((mask >> c) & 1)
			out.Set(n++, Napi::Number::New(env, c));
	return out;
}

// Issue 12's evidence: sched, memory, offCpu, profile (each null when its probe is not attached).
void SetDiagnosis(Napi::Env env, Napi::Object out, const kernel_frame &f)
{
	if (f.has_sched) {
		Napi::Object sched = Napi::Object::New(env);
		Napi::Array comps = Napi::Array::New(env);
		for (int i = 0; i < f.sched.ncompetitors; i++) {
			const probe_competitor &c = f.sched.competitors[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("pid", c.pid);
			o.Set("tgid", c.tgid);
			o.Set("comm", c.comm);
			o.Set("onCpuNs", Num(env, c.on_cpu_ns));
			o.Set("preemptedEngine", Num(env, c.preempted_engine));
			o.Set("cpus", CpuList(env, c.cpus));
			comps.Set((uint32_t)i, o);
		}
		sched.Set("competitors", comps);
		sched.Set("othersOnCpuNs", Num(env, f.sched.others_on_cpu_ns));
		out.Set("sched", sched);
	} else {
		out.Set("sched", env.Null());
	}
	if (f.has_memory) {
		Napi::Object m = Napi::Object::New(env);
		m.Set("directReclaimNs", Num(env, f.memory.direct_ns));
		m.Set("directReclaimCount", Num(env, f.memory.direct_count));
		m.Set("memcgReclaimNs", Num(env, f.memory.memcg_ns));
		m.Set("memcgReclaimCount", Num(env, f.memory.memcg_count));
		m.Set("compactionNs", Num(env, f.memory.compaction_ns));
		m.Set("compactionCount", Num(env, f.memory.compaction_count));
		m.Set("engineReclaimNs", Num(env, f.memory.engine_ns));
		Napi::Array tasks = Napi::Array::New(env);
		for (int i = 0; i < f.memory.ntasks; i++) {
			Napi::Object o = Napi::Object::New(env);
			o.Set("pid", f.memory.tasks[i].pid);
			o.Set("comm", f.memory.tasks[i].comm);
			o.Set("reclaimNs", Num(env, f.memory.tasks[i].ns));
			tasks.Set((uint32_t)i, o);
		}
		m.Set("byTask", tasks);
		out.Set("memory", m);
	} else {
		out.Set("memory", env.Null());
	}
	if (f.has_offcpu) {
		Napi::Object oc = Napi::Object::New(env);
		oc.Set("minUs", f.offcpu.min_us);
		Napi::Array events = Napi::Array::New(env);
		for (int i = 0; i < f.offcpu.nevents; i++) {
			const probe_offcpu_event &e = f.offcpu.events[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("tid", e.tid);
			o.Set("comm", e.comm);
			o.Set("offNs", Num(env, e.off_ns));
			o.Set("endMonotonicNs", Num(env, e.end_ns));
			o.Set("kernelIps", Ips(env, e.ips, e.nframes));
			events.Set((uint32_t)i, o);
		}
		oc.Set("events", events);
		oc.Set("truncated", Num(env, f.offcpu.truncated));
		out.Set("offCpu", oc);
	} else {
		out.Set("offCpu", env.Null());
	}
	if (f.has_profile) {
		Napi::Object p = Napi::Object::New(env);
		p.Set("hz", f.profile.hz);
		Napi::Array samples = Napi::Array::New(env);
		for (int i = 0; i < f.profile.nsamples; i++) {
			const probe_profile_sample &s = f.profile.samples[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("tid", s.tid);
			o.Set("comm", s.comm);
			o.Set("kernelIps", StackIps(env, s.kernel_stack, s.kernel_ips, s.nkernel));
			o.Set("userIps", StackIps(env, s.user_stack, s.user_ips, s.nuser));
			o.Set("count", Num(env, s.count));
			samples.Set((uint32_t)i, o);
		}
		p.Set("samples", samples);
		p.Set("lost", Num(env, f.profile.lost));
		out.Set("profile", p);
	} else {
		out.Set("profile", env.Null());
	}
}

// Which share of the interval since the previous read the per-request probes were attached:
// what their counts and histograms stand for. null when none is attached.
Napi::Value PerRequestSampling(Napi::Env env, uint64_t now)
{
	uint64_t interval = now > g_probes.last_read_ns ? now - g_probes.last_read_ns : 0;
	g_probes.last_read_ns = now;
	if (!g_probes.per_request)
		return env.Null();
	Napi::Object o = Napi::Object::New(env);
	o.Set("duty", g_probes.duty);
	o.Set("intervalNs", Num(env, interval));
	if (!g_probes.sampling) {
		o.Set("observedNs", Num(env, interval));
		o.Set("observedShare", 1);
		o.Set("observedRequests", env.Null());
		o.Set("windows", env.Null());
		o.Set("windowNs", env.Null());
		o.Set("periodNs", env.Null());
		o.Set("switchCpuNs", 0);
		o.Set("attachErrors", 0);
		o.Set("lastError", env.Null());
		return o;
	}
	probe_sampling_stats r;
	probe_sampling_read(g_probes.sampling, now, &r);
	uint64_t observed = r.observed_ns - g_probes.last_observed_ns;
	g_probes.last_observed_ns = r.observed_ns;
	o.Set("observedNs", Num(env, observed));
	o.Set("observedShare", interval > 0 ? std::min(1.0, (double)observed / (double)interval) : 0.0);
	if (r.metered) {
		// An open window's partial count is never more than its whole, except for a window that
		// spanned a stop and the next start, which adds nothing at its close: then 0 once.
		o.Set("observedRequests", Num(env, r.observed_requests > g_probes.last_observed_requests ? r.observed_requests - g_probes.last_observed_requests : 0));
		g_probes.last_observed_requests = r.observed_requests;
	} else {
		o.Set("observedRequests", env.Null());
	}
	o.Set("windows", Num(env, r.windows - g_probes.last_windows));
	o.Set("windowNs", Num(env, r.window_ns));
	o.Set("periodNs", Num(env, r.period_ns));
	o.Set("switchCpuNs", Num(env, r.switch_cpu_ns - g_probes.last_switch_ns));
	g_probes.last_switch_ns = r.switch_cpu_ns;
	o.Set("attachErrors", Num(env, r.attach_errors - g_probes.last_attach_errors));
	g_probes.last_windows = r.windows;
	g_probes.last_attach_errors = r.attach_errors;
	o.Set("lastError", NullOr(env, r.last_error));
	return o;
}

Napi::Value ProbesRead(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!g_probes.reader)
		return env.Null();
	kernel_frame &f = *g_frame;
	probe_reader_read(g_probes.reader, &f);

	Napi::Object out = Napi::Object::New(env);
	out.Set("monotonicNs", Num(env, f.monotonic_ns));
	out.Set("perRequestSampling", PerRequestSampling(env, f.monotonic_ns));

	Napi::Object uring = Napi::Object::New(env);
	uring.Set("submits", Num(env, f.uring.submits));
	uring.Set("completions", Num(env, f.uring.completions));
	uring.Set("enters", Num(env, f.uring.enters));
	uring.Set("cqWaits", Num(env, f.uring.cq_waits));
	uring.Set("ioWqPunts", Num(env, f.uring.io_wq_punts));
	uring.Set("cqeOverflows", Num(env, f.uring.cqe_overflows));
	uring.Set("shortWrites", Num(env, f.uring.short_writes));
	uring.Set("reqFailed", Num(env, f.uring.req_failed));
	uring.Set("entersSource", f.uring.enters_source == PROBE_ENTERS_SYSCALL_TRACEPOINT ? Napi::Value(Napi::String::New(env, "syscall_tracepoint"))
				  : f.uring.enters_source == PROBE_ENTERS_RAW_SYS_ENTER  ? Napi::Value(Napi::String::New(env, "raw_sys_enter"))
											  : env.Null());
	uring.Set("latencySampleRate", f.uring.latency_sample_rate > 0 ? Napi::Value(Napi::Number::New(env, f.uring.latency_sample_rate)) : env.Null());
	uring.Set("latencyNs", SparseHistogram(env, f.uring.latency, KH_BUCKETS));
	uring.Set("taskWorkLatencyNs", SparseHistogram(env, f.uring.task_work, KH_BUCKETS));
	Napi::Array ops = Napi::Array::New(env);
	uint32_t nops = 0;
	for (int op = 0; op < LAT_MAX_OPCODES; op++) {
		if (!f.uring.opcode_count[op])
			continue;
		// The last entry holds every opcode from LAT_OTHER_OPCODE up (none on 6.18).
		const char *name = op == LAT_OTHER_OPCODE ? "OTHER" : probe_btf_enum_name("io_uring_op", "IORING_OP_", (unsigned)op);
		Napi::Object o = Napi::Object::New(env);
		o.Set("opcode", op);
		o.Set("name", name ? std::string(name) : "OP_" + std::to_string(op));
		o.Set("count", Num(env, f.uring.opcode_count[op]));
		o.Set("latencyNs", SparseHistogram(env, f.uring.opcode_latency[op], KH_BUCKETS));
		ops.Set(nops++, o);
	}
	uring.Set("byOpcode", ops);
	out.Set("uring", uring);

	Napi::Object rq = Napi::Object::New(env);
	rq.Set("latencyNs", SparseHistogram(env, f.runqueue.latency, KH_BUCKETS));
	rq.Set("count", Num(env, f.runqueue.count));
	rq.Set("preemptions", Num(env, f.runqueue.preemptions));
	out.Set("runqueue", rq);

	Napi::Object sqp = Napi::Object::New(env);
	sqp.Set("onCpuNs", Num(env, f.sqpoll.on_cpu_ns));
	sqp.Set("wakeups", Num(env, f.sqpoll.wakeups));
	out.Set("sqpoll", sqp);

	Napi::Object si = Napi::Object::New(env);
	si.Set("netRxNs", Num(env, f.softirq.net_rx_ns));
	si.Set("netTxNs", Num(env, f.softirq.net_tx_ns));
	si.Set("netRxCount", Num(env, f.softirq.net_rx_count));
	si.Set("netTxCount", Num(env, f.softirq.net_tx_count));
	si.Set("napiPolls", Num(env, f.softirq.napi_polls));
	si.Set("timeSampleRate", f.softirq.time_sample_rate > 0 ? Napi::Value(Napi::Number::New(env, f.softirq.time_sample_rate)) : env.Null());
	out.Set("softirq", si);

	Napi::Object tcp = Napi::Object::New(env);
	tcp.Set("retransmits", Num(env, f.tcp.retransmits));
	tcp.Set("drops", Num(env, f.tcp.drops));
	tcp.Set("closeDrops", Num(env, f.tcp.close_drops));
	tcp.Set("duplicateDrops", Num(env, f.tcp.dup_drops));
	tcp.Set("lostEvents", Num(env, f.tcp.lost));
	Napi::Array events = Napi::Array::New(env);
	for (int i = 0; i < f.tcp.nevents; i++) {
		const probe_tcp_event &e = f.tcp.events[i];
		Napi::Object o = Napi::Object::New(env);
		o.Set("monotonicNs", Num(env, e.monotonic_ns));
		o.Set("kind", e.kind == TCP_EVENT_RETRANSMIT ? "retransmit" : "drop");
		o.Set("reason", e.kind == TCP_EVENT_DROP
					? (e.reason_name ? Napi::String::New(env, e.reason_name)
							 : Napi::String::New(env, "REASON_" + std::to_string(e.reason)))
					: env.Null());
		o.Set("sport", e.sport);
		o.Set("dport", e.dport);
		o.Set("state", NullOr(env, probe_tcp_state_name(e.state)));
		events.Set((uint32_t)i, o);
	}
	tcp.Set("events", events);
	tcp.Set("truncated", Num(env, f.tcp.truncated));
	tcp.Set("channel", f.tcp.channel ? Napi::Value(Napi::String::New(env, f.tcp.channel)) : env.Null());
	out.Set("tcp", tcp);

	SetDiagnosis(env, out, f);

	if (f.has_overhead) {
		Napi::Array oh = Napi::Array::New(env);
		for (int i = 0; i < f.noverhead; i++) {
			Napi::Object o = Napi::Object::New(env);
			o.Set("program", f.overhead[i].program);
			o.Set("probe", probe_names[f.overhead[i].probe]);
			o.Set("runTimeNs", Num(env, f.overhead[i].run_time_ns));
			o.Set("runCount", Num(env, f.overhead[i].run_count));
			oh.Set((uint32_t)i, o);
		}
		out.Set("overhead", oh);
	} else {
		out.Set("overhead", env.Null());
	}
	return out;
}

Napi::Value ProbesDetach(const Napi::CallbackInfo &info)
{
	Detach();
	return info.Env().Undefined();
}

// The doctor's question: would each probe attach? Tried for real (tgid 0: nothing of ours),
// then closed at once; the set attached for a run (if any) is not touched.
Napi::Value ProbesCheck(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	RefuseWhileAttaching(env, "probesCheck");
	probe_set s;
	probe_load_options o = { 0, PROBE_ALL_MASK, false, false, PROBE_DEFAULT_OFFCPU_MIN_US, PROBE_DEFAULT_PROFILE_HZ };
	LoadProbes(o, &s);
	Napi::Array out = Statuses(env, s, "");
	probe_set_close(&s);
	return out;
}

// The doctor's view of the probe helper: where the addon looks for it, whether it is there,
// and whether its file capabilities let it load the probes (the same checks probesAttach makes).
Napi::Value ProbeHelper(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string path = HelperPath();
	char why[PROBE_TEXT] = "";
	bool found = access(path.c_str(), X_OK) == 0;
	bool caps = found && probe_helper_has_caps(path.c_str(), why, sizeof(why));
	Napi::Object o = Napi::Object::New(env);
	o.Set("path", path);
	o.Set("found", found);
	o.Set("capabilities", caps);
	if (!found)
		o.Set("reason", path + ": " + strerror(errno));
	else
		o.Set("reason", NullOr(env, caps ? nullptr : why));
	o.Set("fix", caps ? env.Null()
			  : Napi::Value(Napi::String::New(env, found ? "sudo setcap cap_bpf,cap_perfmon+ep " + path +
									      " (add cap_sys_admin for run-time overhead stats)"
								    : "npm run build:native builds it next to the addon; URING_LAB_PROBE_HELPER names another")));
	return o;
}

// KERNEL_HISTOGRAM_LAYOUT as the probes record it, for the TypeScript layout to be pinned to.
Napi::Value KernelHistogramLayout(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object o = Napi::Object::New(env);
	o.Set("unit", "ns");
	o.Set("linearBuckets", KH_LINEAR_BUCKETS);
	o.Set("subBucketBits", KH_SUB_BUCKET_BITS);
	o.Set("maxExponent", KH_MAX_EXPONENT);
	o.Set("bucketCount", KH_BUCKETS);
	return o;
}

// The bucket the BPF programs record `ns` in: the very kh_index() they are compiled with.
Napi::Value KernelHistogramIndex(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	double ns = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
	if (!(ns >= 0) || ns > 9007199254740991.0 || ns != (double)(unsigned long long)ns)
		throw Napi::RangeError::New(env, "kernelHistogramIndex(ns): ns must be an integer between 0 and 2^53-1");
	return Napi::Number::New(env, kh_index((unsigned long long)ns));
}

} // namespace

void ExportProbes(Napi::Env env, Napi::Object exports)
{
	SetFunctions(env, exports,
		     { { "probesAttach", ProbesAttach },
		       { "probesAttachAsync", ProbesAttachAsync },
		       { "probesRead", ProbesRead },
		       { "probesDetach", ProbesDetach },
		       { "probesCheck", ProbesCheck },
		       { "probeHelper", ProbeHelper },
		       { "kernelHistogramLayout", KernelHistogramLayout },
		       { "kernelHistogramIndex", KernelHistogramIndex } });
	// Detach when the environment goes (worker thread exit, process exit): fds close anyway
	// at exit, this makes a worker's teardown as clean.
	env.AddCleanupHook([]() { Detach(); });
}
