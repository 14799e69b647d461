/* The release kurier reports (the dashboard, `kurier --version`): the
 * minor number follows the issues landed. */
#ifndef KR_VERSION_H
#define KR_VERSION_H

#define KR_VERSION "0.11.0"

#endif
