using System.Reflection;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Tiers;
using JasperFx.CommandLine;
using JasperFx.CommandLine.Help;
using JasperFx.Environment;
using Marten;
using Microsoft.Extensions.Options;
using Serilog.Events;
using Serilog.Parsing;

namespace CpsLedger.Api.Platform;

/// <summary>
/// A setting the service refuses at start (a missing database, <c>Max Auto Prepare</c>, a surcharge missing for a currency in use):
/// an operator's to fix, not a bug. <see cref="StartRefusal"/> logs its message alone, without a stack trace.
/// </summary>
public sealed class SettingRefusedException(string message) : Exception(message);

/// <summary>
/// A start stopped by refused settings (the options' <c>ValidateOnStart</c> checks, <see cref="SettingRefusedException"/>, an address
/// already in use) ends with one Fatal line per refusal and exit code 1. It aborted (exit code 134) with the exception and its stack
/// written twice, as a crash; a supervisor saw an abort. Any other exception at start is a bug, and keeps its stack trace.
/// </summary>
public static class StartRefusal
{
    /// <summary>The refusal line's beginning when the service starts (serving, <c>run</c>).</summary>
    public const string Prefix = "The service does not start: ";

    /// <summary>
    /// The refusal line's beginning for any other command (<c>db-apply</c>, <c>verify</c>, <c>token</c>, ...), before it runs or inside
    /// it: such a command starts no service.
    /// </summary>
    public const string CommandPrefix = "The command does not run: ";

    /// <summary>The refusal line's beginning for these arguments: <see cref="Prefix"/> when they start the service (none, <c>run</c>).</summary>
    public static string PrefixFor(IReadOnlyList<string> args) =>
        Program.CommandOf(args) is { } command && !string.Equals(command, "run", StringComparison.OrdinalIgnoreCase) ? CommandPrefix : Prefix;

    /// <summary>
    /// Whether the service is its own process (<c>dotnet CpsLedger.Api.dll</c>, <c>dotnet run</c>). A host in another process's hands
    /// (the tests' WebApplicationFactory) gets the exception itself, as before.
    /// </summary>
    public static bool EndsTheProcess { get; } = Assembly.GetEntryAssembly() == typeof(Program).Assembly;

    /// <summary>
    /// Each refusal's message when <paramref name="exception"/> holds refused settings only (a database that cannot be reached
    /// counts as one, and so does one without the ledger's schema: <see cref="DatabaseUnreachable"/>) and the service is its own process
    /// (<see cref="EndsTheProcess"/>); null for anything else.
    /// </summary>
    public static IReadOnlyList<string>? Reasons(Exception exception) => EndsTheProcess ? RefusalsIn(exception) : null;

    private static IReadOnlyList<string>? RefusalsIn(Exception exception)
    {
        switch (exception)
        {
            case SettingRefusedException refused:
                return [refused.Message];
            // Kestrel's "Failed to bind to address http://127.0.0.1:5080: address already in use." (an IOException around its
            // AddressInUseException): the address is a setting. Any other failure to bind (a permission, an address not on this
            // machine) stays an exception with its stack.
            case IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } inUse:
                return [$"{inUse.Message} Stop what listens there, or give the service another address (Urls, " +
                        "ASPNETCORE_URLS or --urls)."];
            case OptionsValidationException options:
                return options.Failures.Any() ? [.. options.Failures] : [options.Message];
            case AggregateException aggregate:
                var inner = aggregate.InnerExceptions.Select(RefusalsIn).ToList();
                return inner.Count > 0 && inner.All(reasons => reasons is not null) ? [.. inner.SelectMany(reasons => reasons!).Distinct()] : null;
            default:
                return DatabaseUnreachable(exception);
        }
    }

    /// <summary>
    /// Opens one connection to the ledger's database and closes it: throws when it cannot be reached (<see cref="DatabaseUnreachable"/>),
    /// for a command that would print that failure itself; any other failure is left to the command to meet and say. With
    /// <paramref name="schemaApplied"/>, on the same connection, also refuses (<see cref="SettingRefusedException"/>) when the ledger's
    /// schema (<see cref="LedgerSchema"/>) holds no table, view or sequence, or does not exist: for <c>db-assert</c>, which otherwise
    /// lists the whole schema's DDL (some 1,500 lines) as the difference, then its stack. Read from <c>pg_class</c>, which lists every
    /// object whatever the role may read, so an object the role cannot see is not taken for a missing one. A schema partly there is
    /// left to the command to compare.
    /// </summary>
    public static async Task ReachTheDatabaseAsync(IConfiguration configuration, bool schemaApplied = false)
    {
        if (configuration.GetConnectionString(Database.ConnectionStringName) is not { Length: > 0 } connectionString)
            return;
        var schema = schemaApplied ? LedgerSchema : null;
        var applied = true;
        try
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            if (schema is not null)
            {
                await using var command = new Npgsql.NpgsqlCommand(
                    "select exists (select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = $1)",
                    connection);
                command.Parameters.AddWithValue(schema);
                applied = await command.ExecuteScalarAsync() is not false;
            }
        }
        catch (Exception exception) when (DatabaseUnreachable(exception) is null)
        {
            // Not a database out of reach: the command meets it again and says it.
        }

        if (!applied)
            throw new SettingRefusedException($"The database has no ledger schema: schema \"{schema}\" holds no table, or does not exist. {ApplyTheSchema}");
    }

    /// <summary>The advice of a refusal for a schema missing, or part of it.</summary>
    public const string ApplyTheSchema =
        "Apply the scripts in eventstore-migrations/, or run the db-apply command (docs/operations.md#schema-migrations).";

    /// <summary>
    /// Why the database could not be reached, when that is what failed (every database of <c>db-apply</c>'s too): nothing listens
    /// there, the connection timed out, or PostgreSQL refused the login or has no such database; or the database lacks an object of
    /// the ledger's schema (<see cref="MissingOfTheLedgersSchema"/>). Nothing can start or run without it,
    /// and Npgsql's stack says no more than its message: one line, saying where and what to check. Null for anything else.
    /// </summary>
    private static IReadOnlyList<string>? DatabaseUnreachable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AggregateException aggregate:
                    return RefusalsIn(aggregate);
                // 28P01/28000: the login refused; 3D000: no such database; 57P03: the server is starting or stopping.
                case Npgsql.PostgresException { SqlState: "28P01" or "28000" or "3D000" or "57P03" } refused:
                    return [$"The database refused the connection: {refused.MessageText} ({refused.SqlState}). Check ConnectionStrings:Marten."];
                case Npgsql.PostgresException postgres when MissingOfTheLedgersSchema(postgres) is { } missing:
                    return [$"The database has no ledger schema, or not all of it: {missing} ({postgres.SqlState}). {ApplyTheSchema}"];
                case Npgsql.PostgresException:
                    return null;
                case Npgsql.NpgsqlException { InnerException: (System.Net.Sockets.SocketException or TimeoutException) and { } cause } connect:
                    return [$"The database cannot be reached: {connect.Message.TrimEnd('.')} ({cause.Message.TrimEnd('.')}). " +
                            "Check ConnectionStrings:Marten, and that PostgreSQL runs there."];
            }
        }

        return null;
    }

    /// <summary>
    /// The schema the ledger's objects are in (<c>Ledger:SchemaName</c>), set once the store is configured
    /// (<c>Store.AddLedgerStore</c>): only a missing object of that schema is a refusal (<see cref="MissingOfTheLedgersSchema"/>).
    /// </summary>
    public static string? LedgerSchema { get; set; }

    private static IServiceProvider? Services { get; set; }

    private static string? ConnectionString { get; set; }

    private static string[]? TablesFound { get; set; }

    [ThreadStatic]
    private static bool _listingTables;

    /// <summary>
    /// Where <see cref="MissingOfTheLedgersSchema"/> finds the connection string and the tables the ledger needs: the built host's
    /// services (<c>Program.cs</c>). A command disposes the host before its exception reaches the refusal (<c>verify</c>: <c>using var
    /// host = input.BuildHost()</c>), so the tables are listed as PostgreSQL's 42P01 or 3F000 is thrown, while the host is there, in the
    /// service's own process only (<see cref="EndsTheProcess"/>).
    /// </summary>
    public static void ListTablesFrom(IServiceProvider services)
    {
        Services = services;
        ConnectionString = services.GetService<IConfiguration>()?.GetConnectionString(Database.ConnectionStringName);
        if (EndsTheProcess)
            AppDomain.CurrentDomain.FirstChanceException += (_, thrown) =>
            {
                if (thrown.Exception is Npgsql.PostgresException { SqlState: "42P01" or "3F000" } && TablesFound is null && !_listingTables
                    && LedgerSchema is { } schema)
                {
                    _listingTables = true;
                    try
                    {
                        TablesFound = LedgerTables(services, schema);
                    }
                    catch (Exception)
                    {
                        // Left to the refusal to try again.
                    }
                    finally
                    {
                        _listingTables = false;
                    }
                }
            };
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Npgsql.PostgresException, Tuple<string?>> MissingFound = new();

    /// <summary>
    /// Whether a table (or sequence) of the ledger's own schema, or the schema itself, is missing, when PostgreSQL said that an object
    /// does not exist (42P01, 3F000): the database has not had eventstore-migrations/ applied (the Production profile never creates the
    /// schema), or not all of it. An operator's to fix, as a database out of reach is. Read from the catalogue on a connection of its
    /// own (<c>pg_namespace</c>, <c>pg_class</c>), not from PostgreSQL's message, whose text follows the server's <c>lc_messages</c>
    /// ("Relation »…« existiert nicht"): what is missing, named in one phrase; null when the ledger's schema and every table the ledger
    /// needs (Marten's and Wolverine's, as their databases list them) are there, or the catalogue cannot be read: any other object
    /// missing (another schema's, one named without a schema) stays a bug's exception with its stack. Asked once per exception.
    /// </summary>
    private static string? MissingOfTheLedgersSchema(Npgsql.PostgresException exception)
    {
        if (exception.SqlState is not ("42P01" or "3F000") || LedgerSchema is not { } schema || Services is not { } services)
            return null;
        return MissingFound.GetValue(exception, _ => Tuple.Create(MissingInTheCatalogue(services, schema))).Item1;
    }

    /// <summary>
    /// The refusal's message when the ledger's schema, or a table of it, is missing from the database (read from the catalogue as for
    /// an exception: <see cref="MissingOfTheLedgersSchema"/>); null when all is there or the catalogue cannot be read. For
    /// <c>check-env</c>, whose checks fail on a missing schema each in its own way (Marten's query of the tier table, logged with its
    /// stack at every retry; Wolverine's advice to run <c>resources setup</c>).
    /// </summary>
    public static string? MissingSchemaRefusal(IServiceProvider services) =>
        LedgerSchema is { } schema && MissingInTheCatalogue(services, schema) is { } missing
            ? $"The database has no ledger schema, or not all of it: {missing}. {ApplyTheSchema}"
            : null;

    private static string? MissingInTheCatalogue(IServiceProvider services, string schema)
    {
        try
        {
            if (ConnectionString is not { Length: > 0 } connectionString)
                return null;
            var tables = TablesFound ??= LedgerTables(services, schema);
            using var connection = new Npgsql.NpgsqlConnection(connectionString);
            connection.Open();
            using var command = new Npgsql.NpgsqlCommand(
                "select n.oid is not null, array(select t from unnest($2::text[]) t where not exists " +
                "(select 1 from pg_catalog.pg_class c where c.relnamespace = n.oid and c.relname = t) order by t) " +
                "from (select 1) one left join pg_catalog.pg_namespace n on n.nspname = $1", connection);
            command.Parameters.AddWithValue(schema);
            command.Parameters.AddWithValue(tables);
            using var reader = command.ExecuteReader();
            reader.Read();
            if (!reader.GetBoolean(0))
                return $"schema \"{schema}\" does not exist";
            var missing = reader.GetFieldValue<string[]>(1);
            return missing.Length switch
            {
                0 => null,
                _ when missing.Length == tables.Length => $"schema \"{schema}\" holds none of the ledger's {tables.Length} tables",
                1 => $"schema \"{schema}\" has no table \"{missing[0]}\"",
                _ => $"schema \"{schema}\" has no tables {string.Join(", ", missing.Select(name => $"\"{name}\""))}",
            };
        }
        catch (Exception)
        {
            // The catalogue out of reach as well: the original exception is said as it is.
            return null;
        }
    }

    // The tables and sequences of the ledger's schema, as Marten's and Wolverine's databases (the ones db-apply applies) list them.
    private static string[] LedgerTables(IServiceProvider services, string schema)
    {
        var databases = services.GetServices<Weasel.Core.Migrations.IDatabase>().ToList();
        foreach (var source in services.GetServices<Weasel.Core.Migrations.IDatabaseSource>())
            databases.AddRange(source.BuildDatabases().AsTask().GetAwaiter().GetResult());
        return [.. databases.SelectMany(database => database.AllObjects())
            .Where(item => item is Weasel.Postgresql.Tables.Table or Weasel.Postgresql.Sequence
                && string.Equals(item.Identifier.Schema, schema, StringComparison.OrdinalIgnoreCase))
            .Select(item => item.Identifier.Name.ToLowerInvariant())
            .Distinct()
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// The start's refusals as environment checks, for <c>check-env</c> (and <c>run --check</c>): JasperFx runs those without starting
    /// the host, so the settings' <c>ValidateOnStart</c> checks and the surcharge check of <see cref="TierTableDefaultsLoader"/> never
    /// ran, and <c>check-env</c> said "All environment checks are good!" for settings the service then refused. Read only: the
    /// surcharges are checked against the tier table stored (an empty ledger has none until the service's first start writes it).
    /// </summary>
    public static void AddStartRefusalsToEnvironmentChecks(this WebApplicationBuilder builder)
    {
        builder.Services.CheckEnvironment("The settings pass the service's start-up checks",
            services => services.GetService<IStartupValidator>()?.Validate());
        // The schema is looked for first: Marten logged its failed query of the tier table at each of its retries, with the stack.
        builder.Services.CheckEnvironment("A bank-transfer surcharge is set for every currency in use", (services, ct) =>
            MissingSchemaRefusal(services) is { } missing
                ? throw new SettingRefusedException(missing)
                : TierTableDefaultsLoader.RefuseASurchargeGapAsync(services.GetRequiredService<IDocumentStore>(),
                    services.GetRequiredService<IOptions<InvoicingOptions>>().Value, ct));
    }

    /// <summary>
    /// Logs each refusal (Fatal, no stack trace) and returns the exit code, 1. The line's message is the text alone, not a template with
    /// the refusal as a property: Production's JSON line held the text twice (<c>@m</c> and <c>Refusal</c>). Logging off
    /// (<c>--log-level None</c>) still says it, on standard error as plain text: the process ended with exit code 1 and not a word.
    /// </summary>
    public static int Refuse(IReadOnlyList<string> reasons, string prefix = Prefix)
    {
        var log = Serilog.Log.ForContext(Serilog.Core.Constants.SourceContextPropertyName, typeof(Program).FullName);
        foreach (var reason in reasons)
        {
            if (log.IsEnabled(LogEventLevel.Fatal))
                log.Write(new LogEvent(DateTimeOffset.Now, LogEventLevel.Fatal, null, new MessageTemplate([new TextToken(prefix + reason)]), []));
            else
                Console.Error.WriteLine(prefix + reason);
        }

        return 1;
    }

    /// <summary>
    /// Makes a refusal met inside the command these arguments run (<see cref="Reasons"/>) end it as one met at the start: one line
    /// per refusal beginning with <paramref name="prefix"/>, no stack, the host stopped, exit code 1. JasperFx catches every exception a
    /// command throws and prints <c>ERROR:</c> and its stack: a setting refused once a command reads it (<c>token</c> and
    /// <c>Auth:ClockSkew</c>), <c>run --check</c>'s environment checks failed on a refusal, a refusal while a command starts the host.
    /// Its command line (<c>RunJasperFxCommands</c> on a built host, JasperFx 2.102) has no hook around a command, but creates each
    /// command with <see cref="ActivatorCommandCreator"/>, which takes a factory the <see cref="GeneratedCommandRegistry"/> holds for
    /// the type first (the one the source generator registers for the ledger's commands): the command is created wrapped. Its input is
    /// parsed before, so JasperFx's "Invalid usage" and "Error parsing input" stay its own; any other exception (a bug) is still
    /// JasperFx's to print, with its stack. A command with <see cref="InjectServiceAttribute"/> properties is left as it is: JasperFx
    /// injects them by the created command's type. (The registry's <c>RegisterCommand</c> would also make the type its assembly's
    /// only command: <c>RegisterInput</c> sets the factory alone, in the same table.)
    /// </summary>
    public static void EndTheCommandOnARefusal(IHost host, Type? command, string prefix)
    {
        if (command is null || !typeof(IJasperFxCommand).IsAssignableFrom(command)
            || command.GetProperties().Any(property => property.IsDefined(typeof(InjectServiceAttribute), true)))
            return;
        GeneratedCommandRegistry.RegisterInput(command,
            () => new RefusalEndsCommand((IJasperFxCommand)Activator.CreateInstance(command)!, host, prefix));
    }

    private sealed class RefusalEndsCommand(IJasperFxCommand inner, IHost host, string prefix) : IJasperFxCommand
    {
        public Type InputType => inner.InputType;

        public UsageGraph Usages => inner.Usages;

        public async Task<bool> Execute(object input)
        {
            try
            {
                return await inner.Execute(input);
            }
            catch (Exception exception) when (Reasons(exception) is { } reasons)
            {
                Refuse(reasons, prefix);
                await StopAfterARefusalAsync(host);
                return false;
            }
        }
    }

    /// <summary>
    /// Starts the service's host: null once it has started. When a refused setting stops the start (<see cref="Reasons"/>), says the
    /// refusal (<see cref="Refuse"/>), then stops what had started, and returns the exit code. The host's own <c>RunAsync</c> disposed
    /// the host without stopping it: each background service then logged its cancellation as a fault with its stack, and "A
    /// BackgroundService has thrown an unhandled exception" (Fatal). The refusal is said first: said after the stop, it came below
    /// "Application is shutting down..." and the lines of whatever stopped (a local PostgreSQL's), where an operator reading the log
    /// from its top met a shutdown without a cause.
    /// </summary>
    public static async Task<int?> StartAsync(IHost host)
    {
        try
        {
            await host.StartAsync();
            return null;
        }
        catch (Exception exception) when (Reasons(exception) is { } reasons)
        {
            var exitCode = Refuse(reasons);
            await StopAfterARefusalAsync(host);
            return exitCode;
        }
    }

    // The refusal is what the operator must read: a failure to stop what had started is logged, and does not replace it.
    private static async Task StopAfterARefusalAsync(IHost host)
    {
        try
        {
            await host.StopAsync();
        }
        catch (Exception stop)
        {
            host.Services.GetService<ILoggerFactory>()?.CreateLogger(typeof(StartRefusal))
                .LogError(stop, "Stopping what had started before the refusal failed");
        }
    }

    /// <summary>
    /// The host's own "Hosting failed to start" line for a refusal (with the exception's stack), which <see cref="Refuse"/> says
    /// instead: left out of the log. So is Wolverine's "Failed to start the Wolverine messaging" (6.64), written before it rethrows
    /// when its storage cannot be reached at the start.
    /// </summary>
    public static bool IsHostsLineForARefusal(LogEvent logEvent) =>
        logEvent.Exception is { } exception
        && logEvent.Properties.TryGetValue(Serilog.Core.Constants.SourceContextPropertyName, out var source)
        && source is ScalarValue { Value: string context }
        && (context == "Microsoft.Extensions.Hosting.Internal.Host"
            || context == "Wolverine.Runtime.WolverineRuntime" && logEvent.MessageTemplate.Text == "Failed to start the Wolverine messaging")
        && Reasons(exception) is not null;
}
