// Errno names and texts; see errno_words.h.
#include "binding/errno_words.h"

#include <cstring>

std::string ErrnoCode(int e)
{
	const char *name = strerrorname_np(e);
	return name ? name : "E" + std::to_string(e);
}

std::string ErrnoText(int e)
{
	char buf[256];
	// GNU strerror_r: returns the message, thread-safe.
	return strerror_r(e, buf, sizeof(buf));
}

std::string ErrnoWords(int e)
{
	return "(" + ErrnoCode(e) + "): " + ErrnoText(e);
}
