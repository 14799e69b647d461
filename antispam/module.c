/* Loading one filter module: a private copy of its file, dlopen, the
 * ABI check, open and the self-test. */
#include <dlfcn.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antispam/host_priv.h"
#include "lib/log.h"

/* Module files are copied whole before they are mapped. */
#define MODULE_FILE_MAX (64 << 20)

/* Copies path into a memfd: the dynamic loader keys loaded objects by
 * name, so dlopen of the same path twice would hand back the old code;
 * a copy per generation gives each its own mapping, which dlclose
 * really unmaps. -1 + err_r on failure. */
static int
module_copy(const char *path, const char *name, struct kr_err *err_r)
{
	char buf[1 << 16];
	struct stat st;
	int in = open(path, O_RDONLY | O_CLOEXEC);
	int out;
	ssize_t n;

	if (in < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "%s: %m", path);
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MODULE_FILE_MAX) {
		close(in);
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: not a regular file under %d bytes", path,
				  MODULE_FILE_MAX);
	}
	out = memfd_create(name, MFD_CLOEXEC);
	if (out < 0) {
		close(in);
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "memfd_create: %m");
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	}
	close(in);
	if (n < 0) {
		close(out);
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "%s: copy: %m",
				  path);
	}
	return out;
}

/* dlopen of the copy and the entry's ABI; 0 or -1 + err_r (m->dl is
 * then closed). */
static int
module_link(struct as_module *m, const char *path, struct kr_err *err_r)
{
	char fdpath[64];
	kr_filter_entry_fn *entry;

	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", m->memfd);
	m->dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (m->dl == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "%s: %s", path,
				  dlerror());
	*(void **)&entry = dlsym(m->dl, KR_FILTER_ENTRY);
	if (entry == NULL) {
		kr_err_set(err_r, KR_ERR_PERMANENT, "%s: no %s", path,
			   KR_FILTER_ENTRY);
		goto fail;
	}
	m->mod = entry();
	if (m->mod == NULL || m->mod->abi != KR_FILTER_ABI) {
		kr_err_set(err_r, KR_ERR_PERMANENT,
			   "%s: filter ABI %u, the host speaks %u", path,
			   m->mod != NULL ? m->mod->abi : 0, KR_FILTER_ABI);
		goto fail;
	}
	if (m->mod->name == NULL || strcmp(m->mod->name, m->name) != 0 ||
	    m->mod->open == NULL || m->mod->close == NULL ||
	    m->mod->check == NULL ||
	    (m->mod->cancel == NULL &&
	     (m->mod->flags & KR_FILTER_F_CPU) == 0)) {
		kr_err_set(err_r, KR_ERR_PERMANENT,
			   "%s: the module is not '%s' or lacks an entry point",
			   path, m->name);
		goto fail;
	}
	snprintf(m->version, sizeof(m->version), "%s",
		 m->mod->version != NULL ? m->mod->version : "");
	return 0;
fail:
	dlclose(m->dl);
	m->dl = NULL;
	return -1;
}

/* open + selftest; 0 or -1 + err_r (nothing left open). */
static int
module_start(struct as_module *m, struct kr_err *err_r)
{
	char why[KR_ERR_MSG_MAX] = "";

	if (m->mod->open(&m->host, &m->conf->conf, &m->state, why,
			 sizeof(why)) < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "%s: open: %s",
				  m->name, why);
	if (m->mod->selftest != NULL &&
	    m->mod->selftest(m->state, why, sizeof(why)) < 0) {
		m->mod->close(m->state);
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: self-test failed: %s", m->name, why);
	}
	return 0;
}

/* "dir/kr_rules.so" -> "rules"; -1 when the name does not fit. */
static int
module_name(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	if (strncmp(base, "kr_", 3) != 0)
		return -1;
	base += 3;
	len = strlen(base);
	if (len <= 3 || strcmp(base + len - 3, ".so") != 0 || len - 3 >= size)
		return -1;
	memcpy(name, base, len - 3);
	name[len - 3] = '\0';
	return 0;
}

struct as_module *
as_module_open(struct kr_antispam *as, struct as_conf *conf, const char *path,
	       uint64_t id, struct kr_err *err_r)
{
	struct as_module *m = kr_xcalloc(1, sizeof(*m));

	m->generation = id;
	m->conf = conf;
	m->as = as;
	m->host = as->host;
	m->host.ctx = m;
	if (module_name(path, m->name, sizeof(m->name)) < 0) {
		kr_err_set(err_r, KR_ERR_PERMANENT,
			   "%s: a module file is named kr_NAME.so", path);
		goto fail;
	}
	m->memfd = module_copy(path, m->name, err_r);
	if (m->memfd < 0)
		goto fail;
	if (module_link(m, path, err_r) < 0)
		goto fail_fd;
	if (module_start(m, err_r) < 0)
		goto fail_dl;
	m->refs = 1;
	conf->refs++;
	return m;
fail_dl:
	dlclose(m->dl);
fail_fd:
	close(m->memfd);
fail:
	free(m);
	return NULL;
}

static void
module_unload(struct as_module *m)
{
	struct kr_antispam *as = m->as;
	struct kr_log_line line;

	for (struct as_module **p = &as->unloading; *p != NULL;
	     p = &(*p)->next_unload) {
		if (*p == m) {
			*p = m->next_unload;
			break;
		}
	}
	if (m->unload != NULL)
		event_free(m->unload);
	m->mod->close(m->state);
	dlclose(m->dl);
	close(m->memfd);
	as_conf_put(m->conf);
	if (kr_log_begin(&line, as->env.log, KR_LOG_INFO, NULL,
			 "antispam.module_unloaded")) {
		kr_log_str(&line, "module", m->name);
		kr_log_uint(&line, "generation", m->generation);
		kr_log_end(&line);
	}
	if (as->env.ids != NULL)
		as_count(as, as->env.ids->unloads, 1);
	free(m);
}

static void
module_on_unload(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	module_unload(ctx);
}

void
as_module_put(struct as_module *m)
{
	struct timeval tv = { 0, AS_UNLOAD_DELAY_MS * 1000 };

	kr_assert(m->refs > 0);
	if (--m->refs > 0)
		return;
	m->unload = evtimer_new(m->as->env.base, module_on_unload, m);
	if (m->unload == NULL) {
		module_unload(m);
		return;
	}
	m->next_unload = m->as->unloading;
	m->as->unloading = m;
	evtimer_add(m->unload, &tv);
}

void
as_module_flush(struct kr_antispam *as)
{
	while (as->unloading != NULL)
		module_unload(as->unloading);
}
