/*
 * paneseal tmux shim, compiled: the same contract as shim.sh, line for line, without the
 * ~0.6 ms that starting sh costs on each of tmuxinator's ~60 tmux calls (see
 * paneseal/tmux/native.py, which builds it once per user, and bench/bench_start.py).
 *
 * paneseal copies this binary into the run directory as RUN/bin/<tmux_command>, next to
 * RUN/real (a symlink to the real tmux) and RUN/pid (paneseal's pid); the run directory is
 * found from /proc/self/exe, so nothing about the run travels in the environment.
 *
 * Every tmux call goes straight to the real tmux, without paneseal's variables and without
 * RUN/bin on PATH (but `tmux -V`, which tmuxinator makes ~17 times per start, is answered
 * with RUN/version: what the real tmux answered paneseal once); only the calls that deliver secrets are handed over to the paneseal
 * process (argv through the req FIFO; it runs tmux and answers on resp).  Nothing passes
 * until paneseal has resolved every secret (RUN/ready); if one failed, every call fails.
 * This program never sees a secret value: only the run's token, the caller's argv and
 * tmux's output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* room for RUN/<name> in a PATH_MAX buffer; paneseal's run directories are far shorter */
#define RUN_MAX (PATH_MAX - 64)
static char run[RUN_MAX];

static void path_in_run(char *out, const char *name) {
    snprintf(out, PATH_MAX, "%s/%s", run, name);
}

static int exists(const char *name) {
    char p[PATH_MAX];
    path_in_run(p, name);
    return access(p, F_OK) == 0;
}

static int is_fifo(const char *name) {
    char p[PATH_MAX];
    struct stat st;
    path_in_run(p, name);
    return stat(p, &st) == 0 && S_ISFIFO(st.st_mode);
}

static void nap(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void fail(const char *message) {
    if (message) {
        fprintf(stderr, "paneseal: error: %s\n", message);
    }
    exit(1);
}

/* failed, run directory gone, or paneseal itself gone: never pass a call through */
static void alive(void) {
    struct stat st;
    char p[PATH_MAX];
    if (exists("failed") || stat(run, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fail(NULL);
    }
    path_in_run(p, "pid");
    FILE *f = fopen(p, "r");
    long pid = 0;
    if (!f) {
        fail(NULL);
    }
    if (fscanf(f, "%ld", &pid) != 1) {
        pid = 0;
    }
    fclose(f);
    if (pid <= 0 || kill((pid_t)pid, 0) != 0) {
        fail(NULL);
    }
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* token, our pid and argv, NUL-separated, as one write stream to req */
static void send_request(int argc, char **argv) {
    char p[PATH_MAX];
    char pid[32];
    const char *token = getenv("PANESEAL_TOKEN");
    path_in_run(p, "req");
    int fd = open(p, O_WRONLY);
    if (fd < 0) {
        exit(1);
    }
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    if (!token) {
        token = "";
    }
    int bad = write_all(fd, token, strlen(token) + 1) || write_all(fd, pid, strlen(pid) + 1);
    for (int i = 1; i < argc && !bad; i++) {
        bad = write_all(fd, argv[i], strlen(argv[i]) + 1);
    }
    close(fd);
    if (bad) {
        exit(1);
    }
}

/* "x" (pass through), or the exit code, then tmux's stdout lines ("1...") and stderr
   lines ("2..."); returns only for "x" */
static void read_reply(void) {
    char p[PATH_MAX];
    path_in_run(p, "resp");
    FILE *f = fopen(p, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int first = 1;
    char rc[32] = "";
    if (!f) {
        fail("no answer from paneseal");
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        if (first) {
            snprintf(rc, sizeof rc, "%s", line);
            first = 0;
            continue;
        }
        if (line[0] == '1') {
            printf("%s\n", line + 1);
        } else if (line[0] == '2') {
            fprintf(stderr, "%s\n", line + 1);
        }
    }
    free(line);
    fclose(f);
    fflush(stdout);
    if (strcmp(rc, "x") == 0) {
        return;
    }
    if (rc[0] == '\0' || strspn(rc, "0123456789") != strlen(rc) || strlen(rc) > 3) {
        fail("no answer from paneseal");
    }
    exit(atoi(rc));
}

/* paneseal stops serving at attach, or once tmuxinator is gone: after that only an attach
   may pass (it carries no secret); a call that should get secrets fails instead */
enum relay { NONE, RELAY, ATTACH };

static enum relay gone(enum relay relay) {
    if (relay == ATTACH) {
        return NONE;
    }
    fail("paneseal no longer serves this session's secrets");
    return NONE;
}

static int targeted(const char *target) {
    char p[PATH_MAX];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int hit = 0;
    path_in_run(p, "targets");
    FILE *f = fopen(p, "r");
    if (!f) {
        return 1; /* no list: every new window and pane gets the session's values */
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        if (target && strcmp(line, target) == 0) {
            hit = 1;
        }
    }
    free(line);
    fclose(f);
    return hit;
}

/* the real tmux's environment: ours without paneseal's variables and without RUN/bin */
static char **clean_environ(void) {
    size_t count = 0;
    while (environ[count]) {
        count++;
    }
    char **env = calloc(count + 1, sizeof *env);
    char bin[PATH_MAX + 8];
    snprintf(bin, sizeof bin, "PATH=%s/bin:", run);
    size_t binlen = strlen(bin);
    size_t j = 0;
    if (!env) {
        fail("out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        const char *e = environ[i];
        if (strncmp(e, "PANESEAL_TOKEN=", 15) == 0 || strncmp(e, "PANESEAL_BROKER=", 16) == 0) {
            continue;
        }
        if (strncmp(e, bin, binlen) == 0) {
            char *stripped = malloc(strlen(e) + 1);
            if (!stripped) {
                fail("out of memory");
            }
            sprintf(stripped, "PATH=%s", e + binlen);
            env[j++] = stripped;
            continue;
        }
        env[j++] = (char *)e;
    }
    env[j] = NULL;
    return env;
}

int main(int argc, char **argv) {
    char self[PATH_MAX];
    char real[PATH_MAX];
    char p[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fail("cannot find the paneseal run directory");
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/'); /* RUN/bin/tmux -> RUN/bin */
    if (slash) {
        *slash = '\0';
    }
    slash = strrchr(self, '/'); /* RUN/bin -> RUN */
    if (!slash || strcmp(slash, "/bin") != 0) {
        fail("cannot find the paneseal run directory");
    }
    *slash = '\0';
    if (strlen(self) >= sizeof run) {
        fail("the paneseal run directory's path is too long");
    }
    snprintf(run, sizeof run, "%s", self);

    while (!exists("ready")) {
        alive();
        nap(5);
    }
    if (argc == 2 && strcmp(argv[1], "-V") == 0) {
        /* tmuxinator asks ~17 times per start: answer with what the real tmux said once */
        path_in_run(p, "version");
        FILE *f = fopen(p, "r");
        if (f) {
            char version[256];
            size_t got = fread(version, 1, sizeof version, f);
            fclose(f);
            if (got > 0 && got < sizeof version) {
                fwrite(version, 1, got, stdout);
                return fflush(stdout) == 0 ? 0 : 1;
            }
        }
    }
    path_in_run(p, "real");
    n = readlink(p, real, sizeof real - 1);
    if (n <= 0) {
        fail(NULL);
    }
    real[n] = '\0';

    enum relay relay = NONE;
    int pane = 0;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "new-session") || !strcmp(a, "new")) {
            relay = RELAY;
        } else if (!strcmp(a, "attach-session") || !strcmp(a, "attach") ||
                   !strcmp(a, "switch-client") || !strcmp(a, "switchc")) {
            relay = ATTACH;
        } else if (!strcmp(a, "new-window") || !strcmp(a, "neww") ||
                   !strcmp(a, "split-window") || !strcmp(a, "splitw")) {
            pane = 1;
        }
        if (i > 1 && !strcmp(argv[i - 1], "-t")) {
            target = a;
        }
    }
    if (pane && targeted(target)) {
        relay = RELAY;
    }
    if (relay != NONE && !is_fifo("req")) {
        relay = gone(relay);
    }
    if (relay != NONE) {
        /* one call at a time: paneseal removes the lock once it has answered */
        path_in_run(p, "lock");
        for (;;) {
            int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
            if (fd >= 0) {
                close(fd);
                break;
            }
            alive();
            if (!is_fifo("req")) {
                relay = gone(relay);
                break;
            }
            nap(2);
        }
    }
    if (relay != NONE) {
        send_request(argc, argv);
        read_reply();
    }
    argv[0] = real;
    execve(real, argv, clean_environ());
    fprintf(stderr, "paneseal: error: cannot run %s: %s\n", real, strerror(errno));
    return 127;
}
