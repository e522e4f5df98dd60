/* Where a built-in plugin finds the data installed beside it (models,
 * gazetteers): lib/textmill/SUB next to lib/textmill/plugins, in the build
 * tree and under any install prefix alike. Header-only, so that each plugin
 * gets its own copy and dladdr() names that plugin's file. */
#ifndef TM_COMMON_DATADIR_H
#define TM_COMMON_DATADIR_H

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* out: DIR_OF_THIS_PLUGIN/../sub, or "" when the plugin's file is unknown.
 * Needs _GNU_SOURCE (dladdr) before the first system header. */
static void tm_plugin_data_dir(char *out, size_t n, const char *sub)
{
    Dl_info info;
    out[0] = 0;
    if (dladdr((void *)tm_plugin_data_dir, &info) && info.dli_fname) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", info.dli_fname);
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = 0;
        snprintf(out, n, "%s/../%s", path, sub);
    }
}

#endif
