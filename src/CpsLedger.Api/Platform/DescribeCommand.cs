using JasperFx.CommandLine;
using JasperFx.CommandLine.Descriptions;
using Spectre.Console;

namespace CpsLedger.Api.Platform;

/// <summary>JasperFx's describe input (<c>--file</c>, <c>--title</c>, <c>--list</c>, <c>--interactive</c>), as a ledger command's input.</summary>
public sealed class LedgerDescribeInput : LedgerInput
{
    [Description("Optionally write the description to the given file location")]
    public string? FileFlag { get; set; }

    [Description("Filter the output to only a single described part")]
    public string? TitleFlag { get; set; }

    /// <summary>Its long name only: <c>-l</c> is <c>--log-level</c>'s (<see cref="LedgerInput"/>).</summary>
    [Description("If set, the command only lists the known part titles")]
    [FlagAlias("list", true)]
    public bool ListFlag { get; set; }

    [Description("If set, interactively select which part(s) to preview")]
    public bool InteractiveFlag { get; set; }
}

/// <summary>
/// JasperFx's <c>describe</c> with the same flags and parts, but for two things its own (JasperFx 2.102, WolverineFx 6.64.2) did:
/// its configuration preview printed every setting's value, the signing key, the code key, the SMTP password and the connection
/// string's password among them (<see cref="SecretsMaskedConfiguration"/> prints that they are set and from where, never what); and
/// Wolverine's part ended the command in "Encountered malformed markup tag" and a stack wherever handlers are pre-generated: it
/// titles each message type's failure rules with the type's name read as Spectre markup, and the invitation reviews' batch is
/// <c>ReviewInvitation[]</c>. A part that fails so is cut there with a line saying so (<see cref="CutLine"/>), and any part after
/// it is printed.
/// It replaces JasperFx's by name, as <see cref="LedgerProjectionsCommand"/> does.
/// </summary>
[Description("Writes out a description of the application (secrets masked) to the console or a file", Name = "describe")]
public sealed class LedgerDescribeCommand : JasperFxAsyncCommand<LedgerDescribeInput>
{
    public const string CutLine =
        "(This part stops here: WolverineFx 6.64.2 reads each message type's name as markup, and the invitation reviews' batch, "
        + "ReviewInvitation[], is not valid markup: the failure rules of that type and of those after it are not shown. "
        + "docs/operations.md, The commands.)";

    public override async Task<bool> Execute(LedgerDescribeInput input)
    {
        // The description is this command's output: on standard output, as JasperFx's own wrote it (Program sends the Spectre console
        // of the ledger's commands to standard error).
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        using var host = input.BuildHost();
        ISystemPart[] parts =
        [
            new AboutThisAppPart(host.Services.GetRequiredService<IHostEnvironment>()),
            new SecretsMaskedConfiguration(host.Services.GetRequiredService<IConfiguration>()),
            new ReferencedAssemblies(),
            .. host.Services.GetServices<ISystemPart>(),
        ];
        // JasperFx hands some parts the host's services through an internal interface before writing them, as its own command does.
        if (typeof(ISystemPart).Assembly.GetType("JasperFx.CommandLine.Descriptions.IRequiresServices") is { } requiresServices
            && requiresServices.GetMethod("Resolve") is { } resolve)
        {
            foreach (var part in parts.Where(requiresServices.IsInstanceOfType))
                resolve.Invoke(part, [host.Services]);
        }

        if (input.ListFlag)
        {
            Console.Out.WriteLine("The registered system parts are");
            foreach (var part in parts)
                Console.Out.WriteLine("* " + part.Title);
            return true;
        }

        if (!string.IsNullOrEmpty(input.TitleFlag))
            parts = [.. parts.Where(part => part.Title == input.TitleFlag)];
        else if (input.InteractiveFlag)
        {
            var titles = AnsiConsole.Prompt(new MultiSelectionPrompt<string>().Title("What part(s) of your application do you wish to view?")
                .PageSize(10).AddChoices(parts.Select(part => part.Title)));
            parts = [.. parts.Where(part => titles.Contains(part.Title))];
        }

        if (!string.IsNullOrEmpty(input.FileFlag))
            AnsiConsole.Record();
        foreach (var part in parts)
        {
            AnsiConsole.Write(new Rule("[blue]" + part.Title.EscapeMarkup() + "[/]") { Justification = Justify.Left });
            AnsiConsole.WriteLine();
            try
            {
                await part.WriteToConsole();
            }
            catch (InvalidOperationException markup) when (markup.Message.StartsWith("Encountered malformed markup", StringComparison.Ordinal)
                                                           || markup.Message.StartsWith("Encountered unescaped", StringComparison.Ordinal))
            {
                AnsiConsole.WriteLine();
                AnsiConsole.WriteLine(CutLine);
            }

            AnsiConsole.WriteLine();
            AnsiConsole.WriteLine();
        }

        if (!string.IsNullOrEmpty(input.FileFlag))
        {
            await File.WriteAllTextAsync(input.FileFlag, Path.GetExtension(input.FileFlag).Contains("html", StringComparison.OrdinalIgnoreCase)
                ? AnsiConsole.ExportHtml()
                : AnsiConsole.ExportText());
            Console.Out.WriteLine("Wrote system description to file " + input.FileFlag);
        }

        return true;
    }
}

/// <summary>
/// The configuration as JasperFx's preview shows it (each key, its value and the provider it came from, overridden values
/// struck through), except that a secret's value is never printed: a key named as a secret (<see cref="IsSecret"/>) shows
/// <c>(set, masked)</c>, and a connection string shows its password as <c>***</c>.
/// </summary>
public sealed class SecretsMaskedConfiguration(IConfiguration configuration) : SystemPartBase("IConfiguration Preview", new Uri("system://configuration"))
{
    public const string Masked = "(set, masked)";

    public override Task WriteToConsole()
    {
        if (configuration is not IConfigurationRoot root)
        {
            AnsiConsole.MarkupLine("[red]Unable to show a preview of the configuration.[/]");
            return Task.CompletedTask;
        }

        var tree = new Tree(string.Empty);
        Add(tree, root.GetChildren());
        AnsiConsole.Write(tree);
        return Task.CompletedTask;

        void Add(IHasTreeNodes node, IEnumerable<IConfigurationSection> children)
        {
            foreach (var child in children)
            {
                // The last provider that has the key wins; the ones before it are shown struck through, as JasperFx does.
                var values = root.Providers.Select(provider => provider.TryGet(child.Path, out var value) ? (Value: value, Provider: provider) : default)
                    .Where(found => found.Provider is not null).Reverse().ToList();
                var next = node;
                if (values.Count == 0)
                    next = node.AddNode("[blue]" + child.Key.EscapeMarkup() + "[/]");
                else
                {
                    var shown = node.AddNode(Row(child, values[0].Value, values[0].Provider!, current: true));
                    foreach (var (value, provider) in values.Skip(1))
                        shown.AddNode(Row(child, value, provider!, current: false));
                    next = shown;
                }

                Add(next, child.GetChildren());
            }
        }
    }

    // The key, its value and where it came from; a value a later provider overrides, struck through, under it.
    private static Table Row(IConfigurationSection section, string? value, IConfigurationProvider provider, bool current)
    {
        var shown = Shown(section.Path, value).EscapeMarkup();
        var source = "([grey]" + provider.ToString()!.EscapeMarkup() + "[/])";
        string[] cells = current ? ["[yellow]" + section.Key.EscapeMarkup() + "[/]", shown, source] : ["[strikethrough]" + shown + "[/]", source];
        var table = new Table().Border(TableBorder.None).HideHeaders();
        foreach (var _ in cells)
            table.AddColumn(string.Empty);
        return table.AddRow(cells);
    }

    /// <summary>What the preview prints for a key's value: a secret masked, a connection string without its password.</summary>
    public static string Shown(string path, string? value)
    {
        if (string.IsNullOrEmpty(value))
            return value ?? "";
        if (IsSecret(path))
            return Masked;
        return path.StartsWith("ConnectionStrings:", StringComparison.OrdinalIgnoreCase) ? ConnectionPassword.Replace(value, "${key}***") : value;
    }

    // A connection string's password (Password=, Pwd=; quoted or up to the next ';'), the rest of it as written.
    private static readonly System.Text.RegularExpressions.Regex ConnectionPassword = new(
        """(?<key>(?:^|;)\s*(?:password|pwd)\s*=\s*)(?:"[^"]*"|'[^']*'|[^;]*)""",
        System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>A key whose value is a secret: the ledger's (Auth:SigningKey, OldEmailVerification:CodeKey, Mail:SmtpPassword) and any alike.</summary>
    public static bool IsSecret(string path)
    {
        var name = path[(path.LastIndexOf(':') + 1)..];
        return name.EndsWith("Key", StringComparison.OrdinalIgnoreCase) || name.EndsWith("Password", StringComparison.OrdinalIgnoreCase)
                                                                         || name.EndsWith("Secret", StringComparison.OrdinalIgnoreCase);
    }
}
