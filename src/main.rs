//! `mdmon`: monitor md arrays with external metadata (a drop-in for mdadm's mdmon).

use argh::FromArgs;
use mdmon::daemon::start::{self, exit, Options};

/// Monitor the member arrays of an md container with external (IMSM)
/// metadata: record dirty/clean, resync progress and failures in the
/// metadata, and release the kernel once the metadata is on disk.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
struct Args {
    /// start one monitor per active container
    #[argh(switch, short = 'a')]
    all: bool,
    /// replace a running mdmon for the same container
    #[argh(switch, short = 't')]
    takeover: bool,
    /// do not fork into the background
    #[argh(switch, short = 'F')]
    foreground: bool,
    /// mark the process as one systemd must not kill at shutdown (argv[0] starts with @)
    #[argh(switch)]
    offroot: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    /// the container: md127, /dev/md127 or /dev/md/NAME
    #[argh(positional)]
    container: Option<String>,
}

const RUN_DIR: &str = env!("MDMON_RUN_DIR");
const VERSION: &str = env!("MDMON_VERSION");

/// One line saying how to call mdmon (the C mdmon's options, plus ours).
const USAGE: &str =
    "Usage: mdmon [--all] [--takeover] [--foreground] [--offroot] CONTAINER\n       mdmon --version | --help";

/// Parse the command line. `--help` prints the usage on stdout and exits 0;
/// a bad flag or argument prints the problem and the usage on stderr and
/// exits 2, as the C mdmon does.
fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    match Args::from_args(&["mdmon"], &rest) {
        Ok(args) => args,
        Err(early) => match early.status {
            Ok(()) => {
                print!("{}", early.output);
                std::process::exit(exit::OK);
            }
            Err(()) => {
                eprintln!("mdmon: {}", early.output.lines().next().unwrap_or("bad arguments"));
                eprintln!("{USAGE}");
                std::process::exit(exit::USAGE);
            }
        },
    }
}

fn main() {
    // Before anything is opened, and before any thread starts.
    mdmon::sys::ensure_std_fds();
    if let Err(e) = mdmon::sys::signal::block_signals() {
        eprintln!("mdmon: cannot block signals: {e}");
        std::process::exit(exit::CANNOT_MONITOR);
    }
    let args = parse_args();
    if args.version {
        println!("mdmon-rs {VERSION}");
        std::process::exit(exit::OK);
    }
    let opts = Options {
        container: args.container.clone(),
        // As the C mdmon: naming /proc/mdstat means every container.
        all: args.all || args.container.as_deref() == Some("/proc/mdstat"),
        takeover: args.takeover,
        foreground: args.foreground,
        offroot: args.offroot,
    };
    let code = if opts.all {
        start::run_all(&opts, RUN_DIR, VERSION)
    } else {
        let Some(name) = opts.container.as_deref() else {
            eprintln!("mdmon: no container given");
            eprintln!("{USAGE}");
            std::process::exit(exit::USAGE);
        };
        match start::resolve_container(name) {
            Ok(devnm) => start::run_container(&devnm, &opts, RUN_DIR, VERSION),
            Err(msg) => {
                eprintln!("mdmon: {msg}");
                exit::BAD_DEVICE
            }
        }
    };
    std::process::exit(code);
}
