/* The final program of docs/http-tutorial.md, built by meson so that the
 * tutorial cannot drift from the installed API (keep the two identical).
 *
 *   tutorial_server [PORT] [ROOT]
 *
 * GET /hello, POST /echo (the body back, up to 64 KiB), GET /files/...
 * (static files under ROOT, with ranges), everything else 404; SIGTERM or
 * SIGINT drains for 5 s and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <corio.h>

static int rootfd = -1;

static int hello(corio_http_request *req, corio_http_response *resp, void *arg) {
    (void)req;
    (void)arg;
    corio_http_response_set_header(resp, "Content-Type", "text/plain");
    return corio_http_response_write_all(resp, "Hello, world!\n", 14);
}

static int echo(corio_http_request *req, corio_http_response *resp, void *arg) {
    (void)arg;
    char *buf = malloc(65536); /* not on the coroutine's 64 KiB stack */
    if (!buf)
        return -1;
    ssize_t n = corio_http_request_read_all(req, buf, 65536, 10.0);
    int r;
    if (n == -EMSGSIZE)
        r = corio_http_response_error(resp, 413);
    else if (n < 0)
        r = (int)n; /* the server answers 400, 408 or 500 */
    else
        r = corio_http_response_write_all(resp, buf, (size_t)n);
    free(buf);
    return r;
}

static int files(corio_http_request *req, corio_http_response *resp, void *arg) {
    (void)arg;
    const char *path = corio_http_request_path(req, NULL); /* "/files/..." */
    const char *rel = path[6] == '/' ? path + 7 : ".";
    return corio_http_response_send_file(resp, req, rootfd, rel, CORIO_HTTP_FILE_INDEX);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    rootfd = open(argc > 2 ? argv[2] : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        perror("root");
        return 1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    corio_signal_block(&stop); /* before the loops start: they inherit it */

    corio_runtime *rt;
    corio_http_mux *mux;
    corio_http_server *srv;
    if (corio_runtime_create(NULL, &rt) < 0 || corio_http_mux_create(&mux) < 0)
        return 1;
    corio_http_mux_handle(mux, "/hello", CORIO_HTTP_GET, hello, NULL);
    corio_http_mux_handle(mux, "/echo", CORIO_HTTP_POST, echo, NULL);
    corio_http_mux_handle(mux, "/files/", CORIO_HTTP_GET, files, NULL);
    corio_http_server_options o = {.head_timeout = 10, .idle_timeout = 30};
    int r = corio_http_server_create(rt, "127.0.0.1", port, &o, corio_http_mux_serve, mux, &srv);
    if (r < 0) {
        fprintf(stderr, "listen: %s\n", corio_strerror(r));
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", corio_http_server_port(srv));
    fflush(stdout);
    corio_signal_wait(&stop, CORIO_FOREVER, NULL);
    corio_http_server_shutdown(srv, 5.0); /* finish what is in flight */
    corio_http_server_destroy(srv);
    corio_http_mux_destroy(mux);
    corio_runtime_destroy(rt);
    close(rootfd);
    return 0;
}
