using System.Text;
using JasperFx;
using JasperFx.CommandLine;
using Weasel.Core;
using Weasel.Core.CommandLine;
using Weasel.Core.Migrations;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The databases a schema script is written for: the one <c>-d</c> names (<see cref="Named"/>), or, without it, every one the
/// ledger has, Marten's first (its event store and documents; then Wolverine's message storage), in the order
/// <c>eventstore-migrations/</c> applies them. Weasel's own <c>db-patch</c> and <c>db-dump</c> stopped with exit code 1 and the
/// list of databases unless one was named: the ledger has two (Marten's and Wolverine's, in the same PostgreSQL database and
/// schema), while <c>db-apply</c> and <c>db-assert</c> take both.
/// </summary>
internal static class SchemaScripts
{
    /// <summary>The databases to write for, or null when <c>-d</c> names none or several (said on standard error).</summary>
    public static async Task<IReadOnlyList<IDatabase>?> DatabasesAsync(IHost host, string? named)
    {
        var all = (await new WeaselInput().AllDatabases(host))
            .OrderBy(database => database.Describe().SubjectUri.Scheme == "marten" ? 0 : 1)
            .ToList();
        if (string.IsNullOrEmpty(named))
            return all;

        var names = all.Select(NamesOf).ToList();
        if (Named(names, named) is { } chosen)
            return [all[chosen]];

        var matching = names.Where(n => n.Any(name => name.Contains(named, StringComparison.OrdinalIgnoreCase))).ToList();
        await Console.Error.WriteLineAsync(matching.Count == 0
            ? $"'{named}' names none of the ledger's databases. Name one by a Uri db-list shows:"
            : $"'{named}' names {matching.Count} databases. Name one by a Uri db-list shows (the whole of one picks it):");
        foreach (var database in all)
            await Console.Error.WriteLineAsync($"  {database.Describe().SubjectUri}  {database.Describe().DatabaseUri()}");
        return null;
    }

    /// <summary>
    /// Which database <paramref name="named"/> names, by the names each has (its subject Uri, database Uri and identifier), or null
    /// for none or several: one whose name is the text, whole and in any case; else the one name containing it. Marten's database
    /// Uri is Wolverine's with the schema after it (<c>postgresql://host/db/schema</c>, <c>postgresql://host/db</c>): Weasel's
    /// matching took the first that contained the text, so Wolverine's Uri, given whole, chose Marten's database.
    /// </summary>
    public static int? Named(IReadOnlyList<IReadOnlyList<string>> names, string named)
    {
        static int? Single(IEnumerable<int> found) => found.Take(2).ToList() is [var one] ? one : null;

        var indices = Enumerable.Range(0, names.Count);
        var whole = indices.Where(i => names[i].Any(name => string.Equals(name, named, StringComparison.OrdinalIgnoreCase))).ToList();
        if (whole.Count > 0)
            return Single(whole);
        return Single(indices.Where(i => names[i].Any(name => name.Contains(named, StringComparison.OrdinalIgnoreCase))));
    }

    private static IReadOnlyList<string> NamesOf(IDatabase database)
    {
        var description = database.Describe();
        return [description.SubjectUri.ToString(), description.DatabaseUri().ToString(), description.Identifier];
    }

    /// <summary>
    /// Writes each database's files into a folder of its own (<paramref name="write"/>, given the database and that folder), then
    /// each file of that name beside <paramref name="target"/>: the databases' files one after another, a rollback's
    /// (<paramref name="isRollback"/>) in the reverse order; each part headed by its database's Uri when there are several.
    /// Returns the files written.
    /// </summary>
    public static async Task<IReadOnlyList<string>> WriteTogetherAsync(string target, IReadOnlyList<IDatabase> databases,
        Func<IDatabase, string, Task> write, Func<string, bool> isRollback)
    {
        var scratch = Directory.CreateTempSubdirectory("cpsledger-schema-script-");
        try
        {
            var parts = new List<(IDatabase Database, string Folder)>();
            foreach (var database in databases)
            {
                var folder = Directory.CreateDirectory(Path.Combine(scratch.FullName, parts.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
                await write(database, Path.Combine(folder, Path.GetFileName(target)));
                parts.Add((database, folder));
            }

            var names = parts.SelectMany(part => Directory.GetFiles(part.Folder)).Select(Path.GetFileName).OfType<string>().Distinct()
                .OrderBy(name => name == Path.GetFileName(target) ? 0 : 1).ThenBy(name => name, StringComparer.Ordinal);
            var written = new List<string>();
            var targetFolder = Directory.CreateDirectory(Path.GetDirectoryName(target)!).FullName;
            foreach (var name in names)
            {
                var text = new StringBuilder();
                var withFile = parts.Where(part => File.Exists(Path.Combine(part.Folder, name))).ToList();
                if (isRollback(name))
                    withFile.Reverse();
                foreach (var (database, folder) in withFile)
                {
                    if (withFile.Count > 1)
                        text.Append("-- ").Append(database.Describe().SubjectUri).Append('\n');
                    text.Append(await File.ReadAllTextAsync(Path.Combine(folder, name)));
                    if (text.Length > 0 && text[^1] != '\n')
                        text.Append('\n');
                }

                var path = Path.Combine(targetFolder, name);
                await File.WriteAllTextAsync(path, text.ToString());
                written.Add(path);
            }

            return written;
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }
}

/// <summary>Weasel's db-patch input, as a ledger command's (<see cref="LedgerInput"/>: each short flag one option's).</summary>
public sealed class LedgerPatchInput : LedgerInput
{
    [Description("File path where the patch should be written (its rollback beside it, <name>.drop.sql)")]
    public string FileName { get; set; } = "";

    [Description("One database only, by a Uri db-list shows (marten://store/, wolverine://messages/main), or a part only one of them has; "
        + "without it, all of them in one file, Marten's first")]
    [FlagAlias("database", 'd')]
    public string? DatabaseFlag { get; set; }

    [Description("Override the AutoCreate behavior. Default is CreateOrUpdate")]
    [FlagAlias("auto-create", true)]
    public AutoCreate AutoCreateFlag { get; set; } = AutoCreate.CreateOrUpdate;

    [Description("Option to create scripts as transactional script")]
    [FlagAlias("transactional-script", 't')]
    public bool TransactionalScriptFlag { get; set; }
}

/// <summary>
/// Weasel's <c>db-patch</c> (the same flags, less <c>--interactive</c> and <c>--parallel</c>, which it does not use; <c>--auto-create</c>
/// has its long name only, <c>-a</c> being <c>--applicationname</c>), which without <c>-d</c> writes the difference of every database
/// the ledger has into the one file, Marten's first, and their rollbacks into its <c>.drop.sql</c>, Wolverine's first
/// (<see cref="SchemaScripts"/>). With <c>-d</c> it writes what Weasel's wrote. It replaces Weasel's by name, as
/// <see cref="LedgerProjectionsCommand"/> does JasperFx.Events'.
/// </summary>
[Description("Evaluates the current configuration against the database and writes a patch and drop file if there are any differences",
    Name = "db-patch")]
public sealed class LedgerPatchCommand : JasperFxAsyncCommand<LedgerPatchInput>
{
    public LedgerPatchCommand()
    {
        Usage("Write the patch and matching drop file").Arguments(x => x.FileName);
    }

    public override async Task<bool> Execute(LedgerPatchInput input)
    {
        using var host = input.BuildHost();
        if (await SchemaScripts.DatabasesAsync(host, input.DatabaseFlag) is not { } databases)
            return false;

        var migrations = new List<(IDatabase Database, SchemaMigration Migration)>();
        foreach (var database in databases)
        {
            var migration = await database.CreateMigrationAsync();
            if (migration.Difference == SchemaPatchDifference.None)
                continue;
            migration.AssertPatchingIsValid(input.AutoCreateFlag);
            if (input.TransactionalScriptFlag)
                database.Migrator.IsTransactional = true;
            migrations.Add((database, migration));
        }

        if (migrations.Count == 0)
        {
            Console.Out.WriteLine("No differences were detected between the configuration and the actual database");
            return true;
        }

        var target = Path.GetFullPath(input.FileName);
        var written = await SchemaScripts.WriteTogetherAsync(target, [.. migrations.Select(m => m.Database)],
            (database, file) => database.Migrator.WriteMigrationFileAsync(file, migrations.Single(m => m.Database == database).Migration),
            name => name != Path.GetFileName(target));
        foreach (var file in written)
            Console.Out.WriteLine($"Wrote {file}");
        return true;
    }
}

/// <summary>Weasel's db-dump input, as a ledger command's (<see cref="LedgerInput"/>).</summary>
public sealed class LedgerDumpInput : LedgerInput
{
    [Description("File (or folder, with --by-feature) location to write the SQL file")]
    public string Path { get; set; } = "";

    [Description("One database only, by a Uri db-list shows (marten://store/, wolverine://messages/main), or a part only one of them has; "
        + "without it, all of them, Marten's first")]
    [FlagAlias("database", 'd')]
    public string? DatabaseFlag { get; set; }

    [Description("Opt into writing the SQL split out by features into separate files (without -d, a folder per database)")]
    [FlagAlias("by-feature", 'f')]
    public bool ByFeatureFlag { get; set; }

    [Description("Option to create scripts as transactional script")]
    [FlagAlias("transactional-script", 't')]
    public bool TransactionalScriptFlag { get; set; }
}

/// <summary>
/// Weasel's <c>db-dump</c> (the same flags, less <c>--interactive</c> and <c>--parallel</c>), which without <c>-d</c> writes the whole
/// schema of every database the ledger has, Marten's first, into the one file (with <c>--by-feature</c>, each database's files into
/// a folder of its own, named by its Uri's scheme: <c>marten</c>, <c>wolverine</c>). With <c>-d</c> it writes what Weasel's wrote.
/// </summary>
[Description("Dumps the entire DDL of the ledger's databases (Marten's, Wolverine's; -d one of them)", Name = "db-dump")]
public sealed class LedgerDumpCommand : JasperFxAsyncCommand<LedgerDumpInput>
{
    public LedgerDumpCommand()
    {
        Usage("Writes the complete DDL to the named file").Arguments(x => x.Path);
    }

    public override async Task<bool> Execute(LedgerDumpInput input)
    {
        using var host = input.BuildHost();
        if (await SchemaScripts.DatabasesAsync(host, input.DatabaseFlag) is not { } databases)
            return false;
        if (input.TransactionalScriptFlag)
        {
            foreach (var database in databases)
                database.Migrator.IsTransactional = true;
        }

        var target = System.IO.Path.GetFullPath(input.Path);
        if (input.ByFeatureFlag)
        {
            // Weasel's empties the folder first; this one deletes nothing, and writes its files over those of the same name.
            foreach (var database in databases)
            {
                var folder = databases.Count == 1 ? target : System.IO.Path.Combine(target, database.Describe().SubjectUri.Scheme);
                Directory.CreateDirectory(folder);
                await database.WriteScriptsByTypeAsync(folder);
                Console.Out.WriteLine($"Wrote the SQL files of {database.Describe().SubjectUri} to {folder}");
            }

            return true;
        }

        var written = await SchemaScripts.WriteTogetherAsync(target, databases,
            (database, file) => database.WriteCreationScriptToFileAsync(file), _ => false);
        foreach (var file in written)
            Console.Out.WriteLine($"Wrote {file}");
        return true;
    }
}
