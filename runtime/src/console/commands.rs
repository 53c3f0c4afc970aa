//! The console's command table: names, usage and what each asks, in one place for `help`,
//! completion and suggestions.

/// One console command, as `help` lists it.
#[derive(Clone, Copy, Debug)]
pub struct CommandHelp {
    /// The command word.
    pub name: &'static str,
    /// How it is called.
    pub usage: &'static str,
    /// What it answers.
    pub about: &'static str,
    /// The IEx expression it stands for.
    pub iex: &'static str,
}

const fn cmd(
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    iex: &'static str,
) -> CommandHelp {
    CommandHelp {
        name,
        usage,
        about,
        iex,
    }
}

/// Every console command.
pub const COMMANDS: &[CommandHelp] = &[
    cmd(
        "count",
        "count",
        "how many processes are alive",
        "length(Process.list())",
    ),
    cmd("memory", "memory", "memory by category", ":erlang.memory()"),
    cmd(
        "info",
        "info <pid|name>",
        "what a process is doing",
        "Process.info(pid)",
    ),
    cmd(
        "state",
        "state <pid|name> [timeout]",
        "asks a server for its state (default timeout 1s)",
        ":sys.get_state(pid, 1000)",
    ),
    cmd(
        "subscribers",
        "subscribers <topic>",
        "the processes subscribed to a topic",
        "Registry.lookup(MyApp.PubSub, topic)",
    ),
    cmd(
        "children",
        "children <supervisor>",
        "a supervisor's children",
        "Supervisor.which_children(sup)",
    ),
    cmd(
        "top",
        "top memory|mailbox|messages|busy [n]",
        "the n processes (default 5) with the most of something",
        ":recon.proc_count(:memory, 5)",
    ),
    cmd(
        "kill",
        "kill <pid|name>",
        "sends the untrappable kill signal",
        "Process.exit(pid, :kill)",
    ),
    cmd(
        "exit",
        "exit <pid|name> <reason>",
        "sends an exit signal with a reason",
        "Process.exit(pid, reason)",
    ),
    cmd(
        "crash",
        "crash <pid|name>",
        "makes a process panic",
        "Process.exit(pid, :crash)",
    ),
    cmd(
        "trace",
        "trace <pid|name>... [n] [time]",
        "traces messages, spawns, links and exits (default 50 events or 1s)",
        ":recon_trace.calls(..., 50)",
    ),
    cmd("help", "help [command]", "lists the commands", "h()"),
];

/// The command called `name`, if any.
pub fn find(name: &str) -> Option<&'static CommandHelp> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The command closest to a misspelt `word` (edit distance at most 2, or a prefix).
pub fn suggest(word: &str) -> Option<&'static CommandHelp> {
    if let Some(c) = COMMANDS
        .iter()
        .find(|c| c.name.starts_with(word) && !word.is_empty())
    {
        return Some(c);
    }
    COMMANDS
        .iter()
        .map(|c| (distance(word, c.name), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two short words.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
