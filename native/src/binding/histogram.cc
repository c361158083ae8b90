// The latency histogram's layout and bucket index, exactly as the native recorder computes
// them, so JS can read sparse histograms and tests can pin the layout.
#include <cmath>

#include "binding/config.h"
#include "binding/exports.h"
#include "core/latency_histogram.h"

namespace {

Napi::Value HistogramLayout(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object o = Napi::Object::New(env);
	o.Set("unit", "us");
	o.Set("subBucketBits", LH_SUB_BUCKET_BITS);
	o.Set("linearBuckets", LH_LINEAR_BUCKETS);
	o.Set("bucketCount", LH_BUCKETS);
	Napi::Array lower = Napi::Array::New(env, LH_BUCKETS);
	for (uint32_t i = 0; i < LH_BUCKETS; i++)
		lower.Set(i, (double)lh_bucket_lower_us(i));
	o.Set("lowerBoundsUs", lower);
	return o;
}

Napi::Value HistogramIndex(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	double us = NumberArg(info, 0, "histogramIndex(us)", "us");
	if (!(us >= 0))
		throw Napi::RangeError::New(env, "histogramIndex(us): us must be >= 0");
	return Napi::Number::New(env, lh_index(us >= 1.8e19 ? UINT64_MAX : (uint64_t)us));
}

// The bucket the load records for a round trip of `ns` nanoseconds: the same lh_ns_to_us()
// rounding up, then lh_index().
Napi::Value HistogramIndexNs(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	double ns = NumberArg(info, 0, "histogramIndexNs(ns)", "ns");
	if (!(ns >= 0) || ns > 9e15)
		throw Napi::RangeError::New(env, "histogramIndexNs(ns): ns must be between 0 and 9e15");
	return Napi::Number::New(env, lh_index(lh_ns_to_us((uint64_t)ns)));
}

} // namespace

void ExportHistogram(Napi::Env env, Napi::Object exports)
{
	SetFunctions(env, exports,
		     { { "histogramLayout", HistogramLayout },
		       { "histogramIndex", HistogramIndex },
		       { "histogramIndexNs", HistogramIndexNs } });
}
