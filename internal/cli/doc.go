// Package cli is what both virtwatt agents' command lines have in common:
// defaults, then the TOML file named by --config, then the flags given
// (a flag that is set wins over the file); the web flags
// (--web.listen-address, --web.config.file, --web.max-connections), the
// log flags (--log.level, --log.format) and --version; deprecated aliases
// of old flag names and TOML keys; and a collector of every config error.
//
// Invariants:
//   - A TOML key is its flag's name with '.' and '-' replaced by '_':
//     --web.listen-address is web_listen_address on both agents.
//   - An unknown TOML key is an error naming the file and the key, with the
//     closest known key when one is close.
//   - A deprecated alias (a flag or a TOML key) works as its new name does
//     and yields exactly one warning, however often it is given.
//   - Validation reports every wrong value at once, never only the first.
//   - --version is taken among the flags only: flags end at "--" or at the
//     first argument that is not a flag (a command to run and its own
//     arguments are never looked at).
package cli
