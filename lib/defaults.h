/*
 * defaults.h - the install answers compiled in as defaults.
 *
 * Set by the Makefile (make install asks for them and rebuilds this one
 * object). Only params.def should need these: everything else reads the
 * parameters.
 */
#ifndef POSTERN_DEFAULTS_H
#define POSTERN_DEFAULTS_H

extern const char def_config_directory[];
extern const char def_daemon_directory[];
extern const char def_command_directory[];
extern const char def_queue_directory[];
extern const char def_data_directory[];
extern const char def_meta_directory[];
extern const char def_sendmail_path[];
extern const char def_newaliases_path[];
extern const char def_mailq_path[];
extern const char def_mail_owner[];
extern const char def_setgid_group[];
extern const char def_manpage_directory[];
extern const char def_html_directory[];
extern const char def_readme_directory[];
extern const char def_mail_version[];

#endif
