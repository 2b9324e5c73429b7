namespace CpsLedger.Tests.Harness;

/// <summary>
/// Keeps the OpenAPI document honest in the other direction: after the whole suite, every operation has been called and
/// every success and 404 status it documents has been answered to some test (<see cref="Contract.Unobserved"/>). A status
/// nobody can produce is a lie in the document; one nobody tests is a gap in the suite. Either way the run fails.
/// Enforced where the whole suite runs (<c>CPSLEDGER_CONTRACT_COVERAGE=enforce</c>, set by <c>.ci/run</c>); a filtered local
/// run only writes the list to <c>contract-coverage.txt</c> next to the test assembly.
/// </summary>
public static class ContractCoverage
{
    private static int _hostsEnded;
    private static Contract? _document;

    // Every collection whose fixture is a host of the service (the API tests' two, the console's): each records what its tests
    // receive, and they end in no fixed order.
    private static readonly int Hosts = typeof(ContractCoverage).Assembly.GetTypes()
        .Where(type => type.IsDefined(typeof(CollectionDefinitionAttribute), inherit: false))
        .Count(type => type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICollectionFixture<>)
                                                      && typeof(LedgerApp).IsAssignableFrom(i.GetGenericArguments()[0])));

    /// <summary>The document the API tests' hosts serve, which the responses are counted against.</summary>
    public static void Remember(Contract document) => _document ??= document;

    /// <summary>
    /// When a host ends: writes what no test has received so far; once every host of a whole run has ended (each collection's),
    /// it enforces it. A filtered run may start fewer hosts: it writes the list and enforces nothing (only a whole run does).
    /// </summary>
    public static void HostEnded()
    {
        var last = Interlocked.Increment(ref _hostsEnded) == Hosts;
        if (_document is not { } document)
            return;
        var unobserved = document.Unobserved();
        var file = Path.Combine(AppContext.BaseDirectory, "contract-coverage.txt");
        File.WriteAllLines(file, unobserved);
        var enforced = string.Equals(Environment.GetEnvironmentVariable("CPSLEDGER_CONTRACT_COVERAGE"), "enforce", StringComparison.OrdinalIgnoreCase);
        if (last && enforced && unobserved.Count > 0)
            throw new UntestedContractResponses($"The OpenAPI document promises {unobserved.Count} response(s) no test received:\n  " +
                                        string.Join("\n  ", unobserved));
    }
}

/// <summary>Responses the document promises that no test received (xunit shows only this name for a fixture's failure: see the file).</summary>
public sealed class UntestedContractResponses(string message) : Exception(message);
