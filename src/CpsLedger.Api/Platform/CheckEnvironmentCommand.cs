using JasperFx.CommandLine;
using JasperFx.Environment;

namespace CpsLedger.Api.Platform;

/// <summary>JasperFx's check-env input (<c>--file</c>), as a ledger command's input (<see cref="LedgerInput"/>: <c>-v</c> is one option's).</summary>
public sealed class LedgerCheckEnvironmentInput : LedgerInput
{
    [Description("Use to optionally write the results of the environment checks to a file")]
    public string? FileFlag { get; set; }
}

/// <summary>
/// JasperFx's <c>check-env</c> with the same flags (<c>--file</c>) and verdicts, less its "JasperFx" banner, that also names each
/// failed check and why: one <c>Failure: &lt;check&gt;: &lt;why&gt;</c> line each (each refusal of a refused setting,
/// <see cref="StartRefusal.Reasons"/>) on standard output ahead of the verdict. JasperFx's own (2.102) said "Some environment checks
/// failed!" alone, the failures only in the file of <c>--file</c>: its checks run in JasperFx's <c>EnvironmentChecker</c>, which
/// returns their results to the command only, and most are Marten's, Wolverine's and the health checks, not the ledger's to log
/// from. It replaces JasperFx's by name, as <see cref="LedgerProjectionsCommand"/> does.
/// </summary>
[Description("Execute all environment checks against the application", Name = "check-env")]
public sealed class LedgerCheckEnvironmentCommand : JasperFxAsyncCommand<LedgerCheckEnvironmentInput>
{
    public override async Task<bool> Execute(LedgerCheckEnvironmentInput input)
    {
        // In Development the schema is brought up to the model first, as the service does when it starts and the ledger's other
        // commands do: on an empty database the checks said to apply the migration scripts, which Development never needs.
        using var host = await input.BuildLedgerHostAsync();
        var results = await EnvironmentChecker.ExecuteAllEnvironmentChecks(host.Services);
        if (!string.IsNullOrEmpty(input.FileFlag))
        {
            results.WriteToFile(input.FileFlag);
            Console.Out.WriteLine("Writing environment checks to " + input.FileFlag);
        }

        // A refusal as the start says it; any other failure by its message's first line: Marten's schema check says the whole
        // missing schema's DDL (some 400 lines on an empty database), which the file holds. Marten's and Wolverine's schema checks
        // (their databases' addresses, marten://, wolverine://) on a schema missing, or part of it, say what is missing and to apply
        // it, as the start's refusal does: Wolverine's advised `resources setup`, which the Production profile's schema does not
        // come from.
        var missingSchema = results.Failures.Any(failure => IsASchemaCheck(failure.Description)) ? StartRefusal.MissingSchemaRefusal(host.Services) : null;
        foreach (var failure in results.Failures)
        {
            var reasons = StartRefusal.Reasons(failure.Exception)
                ?? (IsASchemaCheck(failure.Description) && missingSchema is not null ? [missingSchema] : [Said(failure.Exception.Message)]);
            foreach (var reason in reasons)
                Console.Out.WriteLine($"Failure: {failure.Description}: {reason}");
        }

        if (results.Succeeded())
        {
            Console.Out.WriteLine("All environment checks are good!");
            return true;
        }

        Console.Out.WriteLine("Some environment checks failed!");
        if (string.IsNullOrEmpty(input.FileFlag))
            Console.Out.WriteLine("check-env --file <file> writes each check, and each failure in full, to the file.");
        return false;
    }

    private static bool IsASchemaCheck(string description) =>
        description.StartsWith("marten://", StringComparison.Ordinal) || description.StartsWith("wolverine://", StringComparison.Ordinal);

    private const string WolverinesAdvice = "Run 'resources setup' or enable auto-provisioning.";

    // The message's first line; Wolverine's advice to run `resources setup` as the ledger's (db-apply), and a list the line
    // announces (Marten's "These changes detected:") pointed at the file.
    private static string Said(string message)
    {
        var first = message.Split('\n', 2)[0].TrimEnd() is { Length: > 0 } line ? line : message.Trim();
        first = first.Replace(WolverinesAdvice, StartRefusal.ApplyTheSchema, StringComparison.Ordinal);
        return first.EndsWith(':') ? $"{first.TrimEnd(':')} (check-env --file <file> lists them). {StartRefusal.ApplyTheSchema}" : first;
    }
}
