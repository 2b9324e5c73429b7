using JasperFx.CommandLine;

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
    [Description("Write out much more information at startup and enables console logging")]
    [FlagAlias("verbose", true)]
    public new bool VerboseFlag { get => base.VerboseFlag; set => base.VerboseFlag = value; }
}
