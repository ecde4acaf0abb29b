/** The help texts of `roamgate users`. */
export const USERS_USAGE = `       roamgate users add ID [--attr NAME=VALUE ...] --config FILE [--password-file FILE]
       roamgate users passwd ID --config FILE [--password-file FILE]
       roamgate users remove ID --config FILE
       roamgate users disable|enable ID --config FILE
       roamgate users list --config FILE
       roamgate users hash [--password-file FILE]`;

export const USERS_HELP = `  users add ID          add a user to the store (the file's store.path or store.url); --attr NAME=VALUE
                        sets an attribute, and may be repeated
  users passwd ID       set a new password for a user in the store
  users remove ID       remove a user from the store
  users disable ID      stop a user from logging in, keeping them in the store; the
                        gateways on the store end their leases within a second (the
                        store's change feed), the gateways they visit at their next refresh
  users enable ID       let a disabled user log in again
  users list            every user, sorted by id: id, source (config or store),
                        enabled or disabled, attributes as NAME=VALUE
  users hash            print the scrypt hash of a password, for the users: section of
                        the file (users there are edited in the file, not with add/remove)`;

export const PASSWORD_HELP = `  A password is read from --password-file FILE (its first line), else from the
  environment variable ROAMGATE_PASSWORD, else asked for twice on the terminal without
  echo. Passwords have at least 8 characters.`;
