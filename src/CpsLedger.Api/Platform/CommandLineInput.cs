using JasperFx.CommandLine;
using JasperFx.Resources;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The input of the ledger's commands: JasperFx's <see cref="NetCoreInput"/> with each short flag one option's. JasperFx
/// (2.100.1) gives <c>-v</c> to <c>--env-variable</c> and to <c>--verbose</c>; every command's help listed both, and the parser
/// read <c>-v</c> as the first (it took a <c>KEY=VALUE</c>). <c>-v</c> keeps that meaning; <c>--verbose</c> has its long name
/// only. The one input that cannot derive from this, <see cref="LedgerProjectionInput"/> (JasperFx.Events' own input), does the
/// same; JasperFx's own commands keep both (docs/operations.md: use the long name), and <c>ProgramArgumentsTests</c> walks
/// every command's flags.
/// </summary>
public class LedgerInput : NetCoreInput
{
    /// <summary>
    /// The host a command works with: built, not started. In Development the schema is brought up to date first, as the service
    /// does when it starts (Marten's and Wolverine's start-up work, hosted services a command's host never runs): a command run
    /// first on a new database failed on Marten creating the account table alone, whose trigram index needs pg_trgm, created
    /// only with the whole schema. Production never changes the schema (eventstore-migrations/).
    /// </summary>
    public async Task<IHost> BuildLedgerHostAsync()
    {
        var host = BuildHost();
        if (host.Services.GetRequiredService<IHostEnvironment>().IsDevelopment())
            await host.SetupResources();
        return host;
    }

    /// <summary>The help of <see cref="VerboseFlag"/>, for the inputs that cannot derive from this one too.</summary>
    public const string VerboseDescription = "Log from Debug in every category (Marten, Wolverine, JasperFx too), on standard error";

    /// <summary>Applied before the host is built, by Program (<c>Logging.AddLedgerLogging</c>): JasperFx applies it to a host builder only.</summary>
    [Description(VerboseDescription)]
    [FlagAlias("verbose", true)]
    public new bool VerboseFlag { get => base.VerboseFlag; set => base.VerboseFlag = value; }

    /// <summary>The help of <see cref="LogLevelFlag"/>, for <see cref="LedgerProjectionInput"/> too.</summary>
    public const string LogLevelDescription =
        "Log from this level in every category (Marten, Wolverine, JasperFx too), on standard error; None logs nothing; "
        + "with --verbose the more detailed of the two. The names only, as written (a number is refused)";

    /// <summary>Applied before the host is built, by Program (<c>Logging.AddLedgerLogging</c>), as <see cref="VerboseFlag"/>.</summary>
    [Description(LogLevelDescription)]
    public new LogLevel? LogLevelFlag { get => base.LogLevelFlag; set => base.LogLevelFlag = value; }
}
