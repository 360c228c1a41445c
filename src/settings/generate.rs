//! `gor __generate man|bash|zsh|fish`: the man page and the shell completion
//! scripts, made from the same clap definitions as `--help`, so they list
//! every flag with the same text. `make install` and packaging call it.
//!
//! It is a word, not a flag: GoReplay stops reading flags at the first word
//! that is not a flag, so no GoReplay command line starts with `__generate`,
//! and the leading underscores keep it out of the way of real arguments. It
//! is left out of `--help` because users never need it.

use super::{Settings, UsageError};
use clap::CommandFactory;
use clap_complete::Shell;

/// The first argument that asks for a generated file.
pub const SUBCOMMAND: &str = "__generate";

/// What `gor __generate` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// The man page, gor(1), in roff.
    Man,
    /// A completion script for this shell.
    Completion(Shell),
}

impl Artifact {
    /// Reads the word after `__generate`.
    pub fn parse(args: &[String]) -> Result<Artifact, UsageError> {
        let usage = || {
            UsageError(format!(
                "{SUBCOMMAND} needs exactly one argument: man, bash, zsh or fish"
            ))
        };
        match args {
            [what] => match what.as_str() {
                "man" => Ok(Artifact::Man),
                "bash" => Ok(Artifact::Completion(Shell::Bash)),
                "zsh" => Ok(Artifact::Completion(Shell::Zsh)),
                "fish" => Ok(Artifact::Completion(Shell::Fish)),
                _ => Err(usage()),
            },
            _ => Err(usage()),
        }
    }

    /// The file's text.
    pub fn render(self) -> String {
        let mut out = Vec::new();
        let mut cmd = Settings::command();
        match self {
            Artifact::Man => {
                // clap's synopsis would list all 150 flags; ours says the
                // shape. Writing into a Vec cannot fail.
                let man = clap_mangen::Man::new(cmd);
                let _ = man.render_title(&mut out);
                let _ = man.render_name_section(&mut out);
                out.extend_from_slice(MAN_SYNOPSIS.as_bytes());
                let _ = man.render_options_section(&mut out);
                out.extend_from_slice(MAN_EXTRA.as_bytes());
                let _ = man.render_version_section(&mut out);
            }
            Artifact::Completion(shell) => {
                clap_complete::generate(shell, &mut cmd, "gor", &mut out);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

const MAN_SYNOPSIS: &str = r#".SH SYNOPSIS
\fBgor\fR [\fIflag\fR ...]
.br
\fBgor file\-server\fR \fIaddress\fR
.SH DESCRIPTION
gor listens to live HTTP traffic on a network interface without sitting in its path,
and saves, relays, rewrites or replays it. It takes GoReplay's command lines unchanged.
The flags below are grouped by the input, output or step they configure.
\fBgor file\-server\fR serves the current directory over HTTP.
"#;

/// What the flag list cannot say: how flags are written, what the exit
/// statuses mean, a few command lines to start from.
const MAN_EXTRA: &str = r#".SH "FLAG SYNTAX"
Flags follow Go's rules, as in GoReplay: \fB\-name\fR and \fB\-\-name\fR are the same flag;
a value is the next argument or follows \fB=\fR; a boolean flag is \fB\-name\fR or \fB\-name=false\fR.
Flags end at the first argument that is not a flag.
.SH "EXIT STATUS"
.TP
\fB0\fR
Every input is done, \fB\-\-exit\-after\fR passed, or gor was stopped by SIGINT or SIGTERM; every accepted message was flushed.
.TP
\fB1\fR
A runtime failure: no input or no output, a missing input file, an output path that cannot be
written, capture without the needed capabilities, a middleware that died.
.TP
\fB2\fR
A usage error: an unknown flag (with the closest real one named), a bad value, a missing argument.
.SH EXAMPLES
.TP
Mirror port 80 to staging:
\fBgor \-\-input\-raw :80 \-\-output\-http http://staging\fR
.TP
Record port 80 to files:
\fBgor \-\-input\-raw :80 \-\-output\-file requests.gor\fR
.TP
Replay a recording at twice its speed:
\fBgor \-\-input\-file 'requests_0.gor|200%' \-\-output\-http http://staging\fR
.SH CAPABILITIES
Capturing (\fB\-\-input\-raw\fR) needs CAP_NET_RAW and CAP_NET_ADMIN, or root.
Give them to the binary once, and any user can capture:
.PP
.RS
.nf
\fBsetcap cap_net_raw,cap_net_admin+eip /usr/local/bin/gor\fR
.fi
.RE
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_artifact_is_named_by_one_word() {
        assert_eq!(Artifact::parse(&args(&["man"])).unwrap(), Artifact::Man);
        assert_eq!(
            Artifact::parse(&args(&["fish"])).unwrap(),
            Artifact::Completion(Shell::Fish)
        );
        for bad in [&[][..], &["powershell"], &["man", "bash"]] {
            assert!(Artifact::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn man_page_and_completions_list_every_flag() {
        let man = Artifact::Man.render();
        let bash = Artifact::Completion(Shell::Bash).render();
        let fish = Artifact::Completion(Shell::Fish).render();
        for arg in Settings::command().get_arguments() {
            let long = arg.get_long().unwrap();
            // roff escapes the dashes.
            assert!(
                man.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))),
                "--{long} missing from the man page"
            );
            assert!(bash.contains(&format!("--{long}")), "--{long} not in bash");
            assert!(fish.contains(&format!("-l {long}")), "--{long} not in fish");
        }
        assert!(man.contains(".SH \"EXIT STATUS\""));
        assert!(man.contains(".SH SYNOPSIS\n\\fBgor\\fR [\\fIflag\\fR ...]\n"));
    }
}
