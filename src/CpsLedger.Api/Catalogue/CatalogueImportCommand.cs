using JasperFx.CommandLine;
using CpsLedger.Api.Platform;
using Marten;

namespace CpsLedger.Api.Catalogue;

public sealed class CatalogueImportInput : LedgerInput
{
    [Description("The catalogue file: .csv or .json (a relative path is resolved from the current directory)")]
    public string File { get; set; } = "";

    [Description("User name recorded on the catalogue events (default: cli-<operating system user>)")]
    public string? UserFlag { get; set; }
}

[Description("Imports a catalogue file (CSV or JSON) into the ledger, all or nothing; prints what changed or every bad row",
    Name = "catalogue-import")]
public sealed class CatalogueImportCommand : JasperFxAsyncCommand<CatalogueImportInput>
{
    public override async Task<bool> Execute(CatalogueImportInput input)
    {
        // The output is this command's answer, for a person or a script (like the token command's), not a log line.
        var output = Console.Out;
        var path = CommandLineFiles.Resolve(input.File);
        if (!System.IO.File.Exists(path))
        {
            await output.WriteLineAsync(CommandLineFiles.NotFound("Catalogue file", input.File));
            return false;
        }

        if (CatalogueFile.FormatOfFileName(path) is not { } format)
        {
            await output.WriteLineAsync($"Cannot tell the format of {path}: name the file .csv or .json.");
            return false;
        }

        if (CommandLineUser.Refusal(input.UserFlag) is { } refusal)
        {
            await output.WriteLineAsync(refusal);
            return false;
        }

        var file = CatalogueFile.Read(await System.IO.File.ReadAllBytesAsync(path), format);

        using var host = await input.BuildLedgerHostAsync();
        var importer = host.Services.GetRequiredService<CatalogueImporter>();
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var outcome = await importer.ImportAsync(store, file, CommandLineUser.Of(input.UserFlag), CancellationToken.None);

        await output.WriteLineAsync(Describe(path, outcome));
        return !outcome.Rejected;
    }

    public static string Describe(string path, CatalogueImportOutcome outcome)
    {
        if (outcome.Result is { } r)
        {
            return $"Imported {path}: {r.Models} models: {r.Listed} listed, {r.Relisted} relisted, {r.PointsChanged} points changed, " +
                   $"{r.DescriptionChanged} description changed, {r.Withdrawn} withdrawn, {r.Unchanged} unchanged.";
        }

        var lines = outcome.Problems.SelectMany(p => p.Value.Select(problem => $"  {p.Key}: {problem}"));
        return $"{CatalogueImport.RejectedTitle}.\n{path}:\n{string.Join('\n', lines)}";
    }
}
