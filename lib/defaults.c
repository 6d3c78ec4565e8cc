/*
 * defaults.c - compiled-in install answers (see defaults.h). The values
 * come from the Makefile; this file is rebuilt when one of them changes.
 */
#include "defaults.h"

const char def_config_directory[] = DEF_config_directory;
const char def_daemon_directory[] = DEF_daemon_directory;
const char def_command_directory[] = DEF_command_directory;
const char def_queue_directory[] = DEF_queue_directory;
const char def_data_directory[] = DEF_data_directory;
const char def_meta_directory[] = DEF_meta_directory;
const char def_sendmail_path[] = DEF_sendmail_path;
const char def_newaliases_path[] = DEF_newaliases_path;
const char def_mailq_path[] = DEF_mailq_path;
const char def_mail_owner[] = DEF_mail_owner;
const char def_setgid_group[] = DEF_setgid_group;
const char def_manpage_directory[] = DEF_manpage_directory;
const char def_html_directory[] = DEF_html_directory;
const char def_readme_directory[] = DEF_readme_directory;
const char def_mail_version[] = POSTERN_VERSION;
