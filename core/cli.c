/* The command line: run, check, status, plugins, new-plugin, --version, --help. */
#include "internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* status.c */
int tm__status(const char *dir, bool json, int limit);

#ifndef TM_VERSION
#define TM_VERSION "0.0.0"
#endif

static const char usage_main[] =
    "usage: textmill COMMAND [ARGS]\n"
    "\n"
    "Streams text documents through a pipeline of plugins described in YAML.\n"
    "\n"
    "commands:\n"
    "  run PIPELINE.yaml       run a pipeline\n"
    "  check PIPELINE.yaml     validate a pipeline and load its plugins; run nothing\n"
    "  status STATE_DIR        what a pipeline's state directory says: a run now,\n"
    "                          the inputs completed, the last runs\n"
    "  plugins [NAME]          list the plugins found, or document one\n"
    "  new-plugin NAME [DIR]   create an out-of-tree stage plugin project\n"
    "\n"
    "options:\n"
    "  --version               print the version and the plugin ABI\n"
    "  -h, --help              this help (also: textmill COMMAND --help)\n"
    "\n"
    "exit codes: 0 success, 1 internal error, 2 config error, 3 input error,\n"
    "            4 stage failure, 5 state locked by another run, 7 interrupted\n";

static const char usage_run[] =
    "usage: textmill run PIPELINE.yaml [--set STEP.KEY=VALUE]... [--limit N]\n"
    "                    [--quiet] [--stats] [--progress|--no-progress]\n"
    "                    [--wait[=SECONDS]] [--log-format text|json]\n"
    "\n"
    "Runs the pipeline. Outputs are committed only when the whole run succeeds.\n"
    "\n"
    "  --set STEP.KEY=VALUE  override option KEY of step STEP (its name, its plugin\n"
    "                        name when unique, or 'source'); VALUE is YAML: 5, x, [a, b]\n"
    "  --limit N             stop after the source has read N documents\n"
    "  --quiet               print nothing on success\n"
    "  --stats               print per-step counts (in, out, dropped by reason, time)\n"
    "  --progress            a live progress line on stderr (default: when on a terminal)\n"
    "  --wait[=SECONDS]      with state:, wait for another run that holds the state\n"
    "                        directory (default: exit 5 at once)\n"
    "  --log-format json     one JSON object per message on stderr (time, level, msg)\n"
    "\n"
    "exit codes: 0 success, 1 internal error, 2 config error, 3 input error,\n"
    "            4 stage failure, 5 state directory locked by another run,\n"
    "            7 interrupted (SIGINT/SIGTERM)\n";

static const char usage_check[] =
    "usage: textmill check PIPELINE.yaml [--set STEP.KEY=VALUE]... [--log-format text|json]\n"
    "\n"
    "Validates the pipeline file, loads every plugin, checks every option and the\n"
    "order of fields read and written, and starts and stops each plugin. Runs no\n"
    "data. Exit code 0 when the pipeline is sound, 2 when it is not.\n"
    "\n"
    "  --log-format json     one JSON object per message on stderr (time, level, msg)\n";

static const char usage_replay[] =
    "usage: textmill replay REJECTS [--set STEP.KEY=VALUE]... [--quiet] [--stats]\n"
    "                       [--wait[=SECONDS]] [--log-format text|json]\n"
    "\n"
    "Feeds the documents of a rejects file (on_error: reject) back through the\n"
    "pipeline that rejected them, each from the stage that failed on it, into the\n"
    "pipeline's sinks. The file is moved aside first: what fails again goes to a\n"
    "new rejects file. When every run succeeds the old records are removed;\n"
    "when one fails they are put back.\n"
    "\n"
    "exit codes as for run: 0 all replayed, 6 some rejected again, 2, 3, 4, 5, 7\n";

static const char usage_status[] =
    "usage: textmill status STATE_DIR [--json] [-n N]\n"
    "\n"
    "Reads the state directory of a pipeline with state: (read-only; it needs no\n"
    "lock, so it works while a run is going on) and prints whether a run holds it\n"
    "now, how many inputs earlier runs completed, and the last N runs, newest\n"
    "first: id, start, duration, exit code, documents read by the source and\n"
    "written by the last sink, inputs read and skipped (completed by earlier\n"
    "runs), the pipeline file's hash and the status: ok, failed, interrupted,\n"
    "running now, or killed (no end recorded: SIGKILL, a crash, a second signal).\n"
    "\n"
    "  --json                the same as one JSON object\n"
    "  -n N                  show the last N runs (default 10; 0: all)\n"
    "\n"
    "exit codes: 0 success, 2 no textmill state in STATE_DIR or a bad command line\n";

static const char usage_plugins[] =
    "usage: textmill plugins [NAME] [--json] [--path DIR]...\n"
    "\n"
    "Without NAME, lists the plugins on the search path (the built-in directory,\n"
    "then TEXTMILL_PLUGIN_PATH, then each --path). With NAME (a plugin name or a\n"
    "path to a .so), prints its options; --json prints them as a JSON Schema.\n";

static const char usage_new[] =
    "usage: textmill new-plugin NAME [DIR]\n"
    "\n"
    "Creates DIR/NAME (DIR defaults to .): a stage plugin with its own\n"
    "CMakeLists.txt that builds against the installed textmill SDK (found with\n"
    "pkg-config), a README and a test that runs it in a pipeline.\n";

static bool is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

static int bad_usage(const char *usage, const char *fmt, const char *arg)
{
    fputs("textmill: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return TM_EXIT_CONFIG;
}

typedef struct cli_overrides {
    tm_override *v;
    size_t n;
} cli_overrides;

static int parse_set(const char *arg, cli_overrides *ov)
{
    const char *eq = strchr(arg, '=');
    const char *dot = memchr(arg, '.', eq ? (size_t)(eq - arg) : 0);
    if (!eq || !dot || dot == arg || dot + 1 == eq)
        return -1;
    ov->v = tm__xrealloc(ov->v, (ov->n + 1) * sizeof *ov->v);
    /* the step name may itself hold dots: split at the last dot before '=' */
    const char *last = dot;
    for (const char *c = dot; c < eq; c++)
        if (*c == '.')
            last = c;
    ov->v[ov->n].step = tm__xstrndup(arg, (size_t)(last - arg));
    ov->v[ov->n].key = tm__xstrndup(last + 1, (size_t)(eq - last - 1));
    ov->v[ov->n].value = tm__xstrdup(eq + 1);
    ov->n++;
    return 0;
}

static void free_overrides(cli_overrides *ov)
{
    for (size_t i = 0; i < ov->n; i++) {
        free(ov->v[i].step);
        free(ov->v[i].key);
        free(ov->v[i].value);
    }
    free(ov->v);
}

static int cmd_run(int argc, char **argv, bool check_only, bool replay)
{
    const char *usage = check_only ? usage_check : replay ? usage_replay : usage_run;
    const char *file = NULL;
    cli_overrides ov = {0};
    tm_run_opts o = {0};
    o.progress = isatty(2);
    o.wait = -1;
    int rc = TM_EXIT_CONFIG;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage, stdout);
            rc = TM_EXIT_OK;
            goto out;
        } else if (!strcmp(a, "--set") || !strncmp(a, "--set=", 6)) {
            const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || parse_set(v, &ov) != 0) {
                rc = bad_usage(usage, "--set wants STEP.KEY=VALUE, not '%s'", v ? v : "");
                goto out;
            }
        } else if (!check_only && !replay &&
                   (!strcmp(a, "--limit") || !strncmp(a, "--limit=", 8))) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            long long n = v ? strtoll(v, &end, 10) : 0;
            if (!v || !*v || *end || n <= 0) {
                rc = bad_usage(usage, "--limit wants a positive number, not '%s'", v ? v : "");
                goto out;
            }
            o.limit = n;
        } else if (!check_only && (!strcmp(a, "--wait") || !strncmp(a, "--wait=", 7))) {
            o.wait = 1e9; /* no limit */
            if (a[6] == '=') {
                char *end = NULL;
                double w = strtod(a + 7, &end);
                if (!a[7] || *end || !(w >= 0)) {
                    rc = bad_usage(usage, "--wait wants a number of seconds, not '%s'", a + 7);
                    goto out;
                }
                o.wait = w;
            }
        } else if (!strcmp(a, "--log-format") || !strncmp(a, "--log-format=", 13)) {
            const char *v = a[12] == '=' ? a + 13 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || (strcmp(v, "text") && strcmp(v, "json"))) {
                rc = bad_usage(usage, "--log-format wants text or json, not '%s'", v ? v : "");
                goto out;
            }
            tm__log_json = !strcmp(v, "json");
        } else if (!check_only && !strcmp(a, "--quiet")) {
            o.quiet = true;
        } else if (!check_only && !strcmp(a, "--stats")) {
            o.stats = true;
        } else if (!check_only && !strcmp(a, "--progress")) {
            o.progress = true;
        } else if (!check_only && !strcmp(a, "--no-progress")) {
            o.progress = false;
        } else if (a[0] == '-' && a[1]) {
            rc = bad_usage(usage, "unknown option '%s'", a);
            goto out;
        } else if (!file) {
            file = a;
        } else {
            rc = bad_usage(usage, "unexpected argument '%s'", a);
            goto out;
        }
    }
    if (!file) {
        rc = bad_usage(usage, "%s", replay ? "which rejects file? give its path"
                                           : "which pipeline? give the path to a pipeline file");
        goto out;
    }
    if (o.quiet) {
        o.progress = false;
        tm__log_level = TM_LOG_WARN;
    }
    if (replay) {
        rc = tm__replay(file, ov.v, ov.n, &o);
        goto out;
    }
    char *err = NULL;
    tm_pipeline *p = tm__pipeline_parse(file, ov.v, ov.n, &err);
    if (!p) {
        tm__log(TM_LOG_ERROR, NULL, "%s", err);
        free(err);
        goto out;
    }
    if (tm__pipeline_load_plugins(p) != 0) {
        tm__pipeline_free(p);
        goto out;
    }
    if (check_only) {
        rc = tm__check(p);
        if (rc == TM_EXIT_OK) {
            printf("%s: ok: pipeline '%s', %zu steps:", file, p->name, p->n_steps);
            for (size_t i = 0; i < p->n_steps; i++)
                printf("%s %s", i ? "," : "", p->steps[i].name);
            printf("\n");
        } else if (rc != TM_EXIT_CONFIG) {
            rc = TM_EXIT_CONFIG;
        }
    } else {
        rc = tm__run(p, &o);
    }
    tm__pipeline_free(p);
out:
    free_overrides(&ov);
    return rc;
}

static int cmd_plugins(int argc, char **argv)
{
    const char *name = NULL;
    bool json = false;
    const char **extra = tm__xcalloc((size_t)argc + 1, sizeof *extra);
    size_t n_extra = 0;
    int rc = TM_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_plugins, stdout);
            goto out;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--path") && i + 1 < argc) {
            extra[n_extra++] = argv[++i];
        } else if (argv[i][0] == '-') {
            rc = bad_usage(usage_plugins, "unknown option '%s'", argv[i]);
            goto out;
        } else if (!name) {
            name = argv[i];
        } else {
            rc = bad_usage(usage_plugins, "unexpected argument '%s'", argv[i]);
            goto out;
        }
    }
    tm_search s;
    tm__search_init(&s, extra, n_extra);
    tm_loaded *all = NULL;
    size_t n = 0;
    if (name && (strchr(name, '/') || strstr(name, ".so"))) {
        char *err = NULL;
        all = tm__xcalloc(1, sizeof *all);
        if (tm__plugin_open(name, all, &err) != 0) {
            tm__log(TM_LOG_ERROR, NULL, "%s", err);
            free(err);
            free(all);
            tm__search_free(&s);
            rc = TM_EXIT_CONFIG;
            goto out;
        }
        n = 1;
    } else {
        n = tm__plugin_list(&s, &all);
    }
    size_t shown = 0, matches = 0;
    for (size_t i = 0; name && i < n; i++)
        matches += n == 1 || strcmp(all[i].desc->name, name) == 0;
    bool json_array = json && (!name || matches > 1);
    if (json && name && json_array)
        fputs("[\n", stdout);
    for (size_t i = 0; i < n; i++) {
        const tm_plugin *d = all[i].desc;
        if (!name) {
            if (json) {
                if (!shown)
                    fputs("[\n", stdout);
                printf("%s  {\"name\": \"%s\", \"role\": \"%s\", \"version\": \"%s\", "
                       "\"path\": \"%s\"}",
                       shown ? ",\n" : "", d->name, tm__role_name(d->role), d->version,
                       all[i].path);
            } else {
                printf("%-7s %-12s %-8s %s\n", tm__role_name(d->role), d->name, d->version,
                       d->summary);
            }
            shown++;
            continue;
        }
        if (n > 1 && strcmp(d->name, name) != 0)
            continue;
        if (json) {
            char *schema = tm__options_schema(d);
            printf("%s%s", shown ? ",\n" : "", schema);
            free(schema);
        } else {
            if (shown)
                fputc('\n', stdout);
            tm__options_print(stdout, d, all[i].path);
        }
        shown++;
    }
    if (json_array && (name || shown))
        fputs("\n]\n", stdout);
    else if (json && shown)
        fputc('\n', stdout);
    if (!shown && !json && !name)
        printf("no plugins found (searched %zu directories)\n", s.n);
    if (name && !shown) {
        const char **names = tm__xcalloc(n + 1, sizeof *names);
        for (size_t i = 0; i < n; i++)
            names[i] = all[i].desc->name;
        const char *sug = tm__suggest(name, names, n);
        tm__log(TM_LOG_ERROR, NULL, "no plugin named '%s'%s%s%s (see: textmill plugins)", name,
                sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
        free(names);
        rc = TM_EXIT_CONFIG;
    }
    for (size_t i = 0; i < n; i++)
        tm__plugin_close(&all[i]);
    free(all);
    tm__search_free(&s);
out:
    free(extra);
    return rc;
}

static int cmd_status(int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    long n = 10;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_status, stdout);
            return TM_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "-n") || !strncmp(a, "-n=", 3) || !strcmp(a, "--runs") ||
                   !strncmp(a, "--runs=", 7)) {
            const char *eq = strchr(a, '=');
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            n = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || n < 0 || n > 1000000)
                return bad_usage(usage_status, "-n wants a number of runs (0: all), not '%s'",
                                 v ? v : "");
        } else if (a[0] == '-' && a[1]) {
            return bad_usage(usage_status, "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return bad_usage(usage_status, "unexpected argument '%s'", a);
        }
    }
    if (!dir)
        return bad_usage(usage_status, "%s",
                         "which state directory? give the path a pipeline's state: names");
    return tm__status(dir, json, (int)n);
}

static int cmd_new_plugin(int argc, char **argv)
{
    const char *name = NULL, *dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_new, stdout);
            return TM_EXIT_OK;
        } else if (argv[i][0] == '-') {
            return bad_usage(usage_new, "unknown option '%s'", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else if (!dir) {
            dir = argv[i];
        } else {
            return bad_usage(usage_new, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!name)
        return bad_usage(usage_new, "%s", "which name? e.g. textmill new-plugin wordcount");
    return tm__new_plugin(name, dir ? dir : ".");
}

int main(int argc, char **argv)
{
    /* Past a file size limit (ulimit -f), a write fails with EFBIG, which the
     * sinks and the ledger report as a write error and the run fails cleanly
     * (exit 4, nothing committed); the default action of SIGXFSZ would kill
     * the process with a core dump instead. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        fputs(usage_main, stderr);
        return TM_EXIT_CONFIG;
    }
    const char *cmd = argv[1];
    if (is_help(cmd) || !strcmp(cmd, "help")) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            char *h[] = {"--help"};
            if (!strcmp(argv[2], "run"))
                return cmd_run(1, h, false, false);
            if (!strcmp(argv[2], "check"))
                return cmd_run(1, h, true, false);
            if (!strcmp(argv[2], "status"))
                return cmd_status(1, h);
            if (!strcmp(argv[2], "replay"))
                return cmd_run(1, h, false, true);
            if (!strcmp(argv[2], "plugins"))
                return cmd_plugins(1, h);
            if (!strcmp(argv[2], "new-plugin"))
                return cmd_new_plugin(1, h);
        }
        fputs(usage_main, stdout);
        return TM_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("textmill %s (plugin ABI %d.%d)\n", TM_VERSION, TM_ABI_MAJOR, TM_ABI_MINOR);
        return TM_EXIT_OK;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2, false, false);
    if (!strcmp(cmd, "check"))
        return cmd_run(argc - 2, argv + 2, true, false);
    if (!strcmp(cmd, "status"))
        return cmd_status(argc - 2, argv + 2);
    if (!strcmp(cmd, "replay"))
        return cmd_run(argc - 2, argv + 2, false, true);
    if (!strcmp(cmd, "plugins"))
        return cmd_plugins(argc - 2, argv + 2);
    if (!strcmp(cmd, "new-plugin"))
        return cmd_new_plugin(argc - 2, argv + 2);
    static const char *const cmds[] = {"run", "check", "status", "replay", "plugins",
                                       "new-plugin"};
    const char *sug = tm__suggest(cmd, cmds, 6);
    fprintf(stderr, "textmill: unknown command '%s'%s%s%s\n\n%s", cmd,
            sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "", usage_main);
    return TM_EXIT_CONFIG;
}
