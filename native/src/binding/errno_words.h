// The one place an errno becomes words. The C core passes negative errnos up unchanged; the
// binding's messages and objects take their errno names and texts from here.
#ifndef URING_LAB_BINDING_ERRNO_WORDS_H
#define URING_LAB_BINDING_ERRNO_WORDS_H

#include <string>

// "EINVAL" for 22 (an unknown errno reads "E<n>").
std::string ErrnoCode(int e);
// "Invalid argument" for 22.
std::string ErrnoText(int e);
// "(EINVAL): Invalid argument"
std::string ErrnoWords(int e);

#endif
