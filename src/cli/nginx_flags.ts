/**
 * nginx's own command line (`-c FILE -t -T -p PREFIX -e LOG -g DIRECTIVES -s SIGNAL
 * -v -V -h -q`), so service files written for nginx work unchanged.
 */
interface NginxFlags {
  config?: string;
  test: boolean;
  dump: boolean;
  quiet: boolean;
  prefix?: string;
  errorLog?: string;
  globalDirectives?: string;
  signal?: "stop" | "quit" | "reopen" | "reload";
  version: boolean;
  versionDetails: boolean;
  help: boolean;
}

type FlagsResult = { ok: true; flags: NginxFlags } | { ok: false; error: string };

const SIGNALS = new Set(["stop", "quit", "reopen", "reload"]);

export function parseNginxFlags(argv: string[]): FlagsResult {
  const flags: NginxFlags = { test: false, dump: false, quiet: false, version: false, versionDetails: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("-") || arg.length < 2) return { ok: false, error: `invalid option: "${arg}"` };
    // nginx allows grouped boolean flags (-tq) and values attached or separate (-cFILE / -c FILE)
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j];
      const takeValue = (): string | undefined => {
        const rest = arg.slice(j + 1);
        j = arg.length;
        if (rest) return rest;
        return argv[++i];
      };
      switch (flag) {
        case "t":
          flags.test = true;
          break;
        case "T":
          flags.test = flags.dump = true;
          break;
        case "q":
          flags.quiet = true;
          break;
        case "v":
          flags.version = true;
          break;
        case "V":
          flags.version = flags.versionDetails = true;
          break;
        case "h":
        case "?":
          flags.help = true;
          break;
        case "c":
        case "p":
        case "e":
        case "g":
        case "s": {
          const value = takeValue();
          if (value === undefined) return { ok: false, error: `option "-${flag}" requires ${argName(flag)}` };
          if (flag === "c") flags.config = value;
          else if (flag === "p") flags.prefix = value;
          else if (flag === "e") flags.errorLog = value;
          else if (flag === "g") flags.globalDirectives = value;
          else {
            if (!SIGNALS.has(value)) return { ok: false, error: `invalid option: "-s ${value}"` };
            flags.signal = value as NginxFlags["signal"];
          }
          break;
        }
        default:
          return { ok: false, error: `invalid option: "${arg.slice(j)}"` };
      }
    }
  }
  return { ok: true, flags };
}

function argName(flag: string): string {
  return ({ c: "file name", p: "prefix path", e: "file name", g: "directives", s: "signal" } as Record<string, string>)[flag];
}

export const NGINX_USAGE = `Usage: mailproxy [-?hvVtTq] [-s signal] [-p prefix]
                 [-e filename] [-c filename] [-g directives]
       mailproxy serve|check|config|version [options]   (see "mailproxy --help")

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and build options, then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to the master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: the configuration file's folder)
  -e filename   : set error log file (default: stderr)
  -c filename   : set configuration file (default: /etc/mailproxy/mailproxy.conf)
  -g directives : set global directives out of configuration file
`;
