/* The loads the engine can run, by kind; the storage load joins here. */
#include "core/load.h"
#include "loads/echo_load.h"
#include "loads/storage_load.h"

const struct load_ops *load_ops_for(enum load_kind kind)
{
	switch (kind) {
	case LOAD_ECHO:
		return &echo_load_ops;
	case LOAD_STORAGE:
		return &storage_load_ops;
	}
	return NULL;
}
